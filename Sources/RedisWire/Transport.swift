import Glibc

/// The byte stream under a ``RedisConnection``: a plain socket
/// (``SocketTransport``) or TLS over that socket (``TLSTransport``).
///
/// Every transport is non-blocking and never waits: a call that cannot make
/// progress says which `poll()` events to wait for, and the connection does
/// the waiting, with its deadlines, the same way for every transport.
protocol Transport: AnyObject {
  /// The socket to `poll()`.
  var fileDescriptor: Int32 { get }
  /// Whether input was already received and can be read without the socket
  /// becoming readable (TLS decrypts whole records; `poll()` cannot see what
  /// is left of one).
  var hasBufferedInput: Bool { get }
  /// Why the server surely closed the stream if it does so before its first
  /// reply, when retrying cannot help (e.g. a missing client certificate);
  /// `nil` when a close then may be anything.
  var refusalBeforeFirstReply: String? { get }
  /// Reads what is available into `buffer`.
  func read(into buffer: UnsafeMutableRawBufferPointer) -> TransportResult
  /// Writes as much of `bytes` as the socket takes now.
  func write(_ bytes: UnsafeRawBufferPointer) -> TransportResult
}

/// The outcome of one transport read or write.
enum TransportResult {
  /// This many bytes moved (more than zero).
  case transferred(Int)
  /// Nothing moved; wait for these `poll()` events and call again.
  case wouldBlock(events: Int16)
  /// The peer closed the stream.
  case closed
  /// The link broke; a new connection may work (`reason` is for the user).
  case failed(reason: String)
  /// The server refused the secure session (a TLS alert such as "certificate
  /// required"); reconnecting the same way will not help.
  case refused(reason: String)
}

/// A connected TCP or unix socket, read and written as it is.
final class SocketTransport: Transport {
  let fileDescriptor: Int32
  var hasBufferedInput: Bool { false }
  var refusalBeforeFirstReply: String? { nil }

  /// Uses `fileDescriptor`, which must already be non-blocking; does not own it.
  init(fileDescriptor: Int32) {
    self.fileDescriptor = fileDescriptor
  }

  func read(into buffer: UnsafeMutableRawBufferPointer) -> TransportResult {
    switch SystemCall.retryingInterrupts({ Glibc.read(fileDescriptor, buffer.baseAddress, buffer.count) }) {
    case .success(0): return .closed
    case .success(let count): return .transferred(count)
    case .failure(let error) where error.wouldBlock: return .wouldBlock(events: Int16(POLLIN))
    case .failure(let error): return .failed(reason: error.description)
    }
  }

  func write(_ bytes: UnsafeRawBufferPointer) -> TransportResult {
    switch SystemCall.retryingInterrupts({ Glibc.write(fileDescriptor, bytes.baseAddress, bytes.count) }) {
    case .success(0): return .wouldBlock(events: Int16(POLLOUT))
    case .success(let count): return .transferred(count)
    case .failure(let error) where error.wouldBlock: return .wouldBlock(events: Int16(POLLOUT))
    case .failure(let error): return .failed(reason: error.description)
    }
  }
}
