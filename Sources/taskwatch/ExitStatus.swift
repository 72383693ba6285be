import TaskWatch

/// The exit statuses of the contract (DESIGN.md §6), and the one function
/// that decides which one a run ends with.
enum ExitStatus: Int32, CaseIterable {
  case success = 0
  case taskFailed = 1
  case usage = 64
  case undecodable = 65
  case unavailable = 69
  case authentication = 77
  case timedOut = 124
  case interrupted = 130
  case terminated = 143

  /// What the status means, as the README, `--help` and the man page say it.
  var meaning: String {
    switch self {
    case .success: return "every task reached SUCCESS (also: stdout was closed by the reader)"
    case .taskFailed: return "every task is ready and at least one is FAILURE or REVOKED (or --fail-fast saw one)"
    case .usage:
      return
        "usage: bad option, duration, URL or scheme, unusable TLS file, no task ids, a database the server does not have"
    case .undecodable:
      return "a stored result cannot be decoded (e.g. pickle): that task gets an unreadable line, the others "
        + "are watched to the end, and 65 is the status once every task is ready and none failed; "
        + "--fail-fast stops at once"
    case .unavailable:
      return
        "Redis unreachable for longer than --retry-for, or when the --timeout deadline passes, or for the one look of --once; or not securely (certificate, TLS handshake, wrong scheme for the port)"
    case .authentication: return "authentication refused (NOAUTH, WRONGPASS, NOPERM)"
    case .timedOut: return "--timeout passed with tasks unready and Redis reachable; --once with unready tasks"
    case .interrupted: return "interrupted by SIGINT"
    case .terminated: return "terminated by SIGTERM"
    }
  }

  /// How a run ended, before it is turned into a status.
  enum Outcome {
    /// No task is watched any more: each is ready (or its stored result is unreadable).
    case allReady(anyFailed: Bool, anyUnreadable: Bool = false)
    /// `--fail-fast` saw a FAILURE or REVOKED.
    case failedFast
    /// The deadline passed (or `--once` found unready tasks).
    case timedOut
    /// The deadline passed (or `--once` looked) before these `--group`s were saved.
    case groupsNotSaved([String])
    /// A signal asked us to stop.
    case signalled(Int32)
    /// The reader of standard output went away.
    case outputClosed
    /// The run could not go on.
    case failed(any Error)
  }

  /// The exit status for an outcome: the single place where errors become codes.
  static func forOutcome(_ outcome: Outcome) -> ExitStatus {
    switch outcome {
    // A FAILURE is a definite answer and outranks an unknown outcome; an
    // unreadable result outranks only SUCCESS (DESIGN.md §6, precedence).
    case .allReady(let anyFailed, let anyUnreadable):
      return anyFailed ? .taskFailed : anyUnreadable ? .undecodable : .success
    case .failedFast: return .taskFailed
    case .timedOut, .groupsNotSaved: return .timedOut
    case .signalled(let signal): return signal == 15 ? .terminated : .interrupted
    case .outputClosed: return .success
    case .failed(let error): return forError(error)
    }
  }

  private static func forError(_ error: any Error) -> ExitStatus {
    switch error {
    case let error as RedisError:
      if case .authenticationFailed = error { return .authentication }
      return error.isConfigurationError ? .usage : .unavailable
    case let error as ConsumerError:
      switch error {
      case .unavailable: return .unavailable
      case .deadlinePassed: return .timedOut
      case .interrupted: return .interrupted
      }
    case is UndecodableResultError, is UndecodableGroupError, is DecodeError, is WorkflowTooLargeError:
      return .undecodable
    case is NoConnection:
      return .unavailable
    case let error as TLSSetupError:
      return error.isLibraryMissing ? .unavailable : .usage
    case is BackendURLError, is TaskIDList.Problem, is UsageProblem, is UnknownMasterError:
      return .usage
    default:
      return .unavailable
    }
  }
}

/// A usage problem found after parsing (environment, password file).
struct UsageProblem: Error, CustomStringConvertible {
  /// The one-line message.
  let description: String
}
