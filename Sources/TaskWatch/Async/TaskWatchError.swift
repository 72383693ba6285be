/// Why a ``TaskWatcher`` call (or a ``JSONValue`` decoding) failed: one error
/// type with a ``code`` to switch on and the ``underlyingError`` that caused it.
///
/// ```swift
/// do {
///   let results = try await watcher.results(for: ids, timeout: .seconds(30))
/// } catch {
///   switch error.code {
///   case .timedOut: …            // ask again later
///   case .authenticationRefused: … // fix the credentials
///   default: throw error
///   }
/// }
/// ```
///
/// The codes are static members of a struct, not enum cases, so that a later
/// release can add one without breaking a `switch` (which needs a `default`).
public struct TaskWatchError: Error, Sendable, CustomStringConvertible {
  /// What kind of failure this is.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    private enum Kind: String, Hashable, Sendable {
      case unavailable, authenticationRefused, unreadableResult, timedOut, invalidConfiguration, cancelled
    }
    private let kind: Kind

    /// Redis could not be reached for longer than the retry budget
    /// (``ReconnectPolicy/retryFor``), not securely (certificate, TLS
    /// handshake), or it refused a command; also when no thread could be
    /// started for the watch.
    public static let unavailable = Code(kind: .unavailable)
    /// The server refused the credentials (`NOAUTH`, `WRONGPASS`, `NOPERM`);
    /// never retried.
    public static let authenticationRefused = Code(kind: .authenticationRefused)
    /// A stored result cannot be read (pickle, YAML, corrupt), or a result
    /// does not decode into the type asked for (``JSONValue/decode(_:)``), or
    /// a followed workflow is larger than ``ConsumerConfiguration/maximumTreeSize``.
    public static let unreadableResult = Code(kind: .unreadableResult)
    /// The call's timeout passed with tasks still unready.
    public static let timedOut = Code(kind: .timedOut)
    /// The configuration cannot work: a bad backend URL, an unusable TLS file,
    /// a master name no sentinel knows.
    public static let invalidConfiguration = Code(kind: .invalidConfiguration)
    /// The task that waited was cancelled.
    public static let cancelled = Code(kind: .cancelled)

    /// The code's name, e.g. `timedOut`.
    public var description: String { kind.rawValue }
  }

  /// What kind of failure this is.
  public let code: Code
  /// The task the failure concerns, when it concerns one (an unreadable result).
  public let taskID: String?
  /// The error that caused this one (``ConsumerError``, `RedisError`,
  /// ``UndecodableResultError``, `DecodingError`, …), if any.
  public let underlyingError: (any Error & Sendable)?
  private let message: String

  /// Creates an error with a code, a one-line message and an optional cause.
  public init(_ code: Code, _ message: String, taskID: String? = nil, underlyingError: (any Error & Sendable)? = nil) {
    self.code = code
    self.message = message
    self.taskID = taskID
    self.underlyingError = underlyingError
  }

  /// A one-line message for the user.
  public var description: String { message }

  /// The watch was cancelled.
  static let cancelledWait = TaskWatchError(.cancelled, "cancelled while waiting for tasks")

  /// Classifies an error of the consumer layer, as the CLI's exit status does.
  init(wrapping error: any Error) {
    if let error = error as? TaskWatchError {
      self = error
      return
    }
    switch error {
    case let error as RedisError:
      if case .authenticationFailed = error {
        self.init(.authenticationRefused, error.description, underlyingError: error)
      } else {
        self.init(.unavailable, error.description, underlyingError: error)
      }
    case let error as ConsumerError:
      switch error {
      case .unavailable: self.init(.unavailable, error.description, underlyingError: error)
      case .deadlinePassed: self.init(.timedOut, error.description, underlyingError: error)
      case .interrupted: self = .cancelledWait
      }
    case let error as UndecodableResultError:
      self.init(.unreadableResult, error.description, taskID: error.taskID, underlyingError: error)
    case let error as DecodeError:
      self.init(.unreadableResult, error.description, underlyingError: error)
    case let error as WorkflowTooLargeError:
      self.init(.unreadableResult, error.description, taskID: error.rootID, underlyingError: error)
    case let error as TLSSetupError:
      self.init(
        error.isLibraryMissing ? .unavailable : .invalidConfiguration, error.description, underlyingError: error)
    case let error as BackendURLError:
      self.init(.invalidConfiguration, error.description, underlyingError: error)
    case let error as UnknownMasterError:
      self.init(.invalidConfiguration, error.description, underlyingError: error)
    case is WakeupError:
      self = .cancelledWait
    default:
      self.init(.unavailable, String(describing: error))
    }
  }
}
