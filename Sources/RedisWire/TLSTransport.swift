@preconcurrency import COpenSSL
import Glibc

/// TLS (OpenSSL) over a connected, non-blocking socket.
///
/// The handshake is done in ``init(socket:host:context:endpoint:until:)``,
/// waiting in `poll()` like every other step; afterwards reads and writes are
/// `SSL_read`/`SSL_write`, which report the events they wait for instead of
/// blocking. No thread and no extra socket.
final class TLSTransport: Transport {
  let fileDescriptor: Int32
  private let ssl: OpaquePointer
  /// Kept alive for as long as `ssl` uses it.
  private let context: TLSClientContext
  /// Set during the handshake when the server asked for a client
  /// certificate and none was configured.
  fileprivate var askedForMissingCertificate = false

  /// Runs the client handshake on `socket` (not owned; closing it stays the
  /// caller's job).
  /// - Parameters:
  ///   - host: the name or address the URL gave: sent as SNI when it is a
  ///     name, and checked against the certificate when
  ///     ``TLSSettings/checksHostname`` says so.
  ///   - endpoint: the server as messages name it.
  /// - Throws: ``RedisError/insecure(endpoint:reason:)`` when the server
  ///   cannot be trusted or does not speak TLS;
  ///   ``RedisError/connectFailed(endpoint:reason:)`` when the link broke or
  ///   the deadline passed during the handshake.
  init(
    socket: Int32, host: String, context: TLSClientContext, endpoint: String, until deadline: Deadline
  ) throws(RedisError) {
    tw_ERR_clear_error()
    guard let ssl = tw_SSL_new(context.context) else {
      throw .connectFailed(endpoint: endpoint, reason: "TLS: " + OpenSSLErrorQueue.drain())
    }
    self.ssl = ssl
    self.context = context
    fileDescriptor = socket
    tw_SSL_set_fd(ssl, socket)
    // The context's client-certificate callback finds this transport here.
    tw_SSL_set_ex_data(ssl, 0, Unmanaged.passUnretained(self).toOpaque())
    let isAddress = Self.isIPAddress(host)
    if !isAddress { _ = tw_SSL_set_tlsext_host_name(ssl, host) }
    if context.settings.checksHostname {
      if isAddress {
        tw_X509_VERIFY_PARAM_set1_ip_asc(tw_SSL_get0_param(ssl), host)
      } else {
        tw_SSL_set1_host(ssl, host)
      }
    }
    try handshake(host: host, endpoint: endpoint, until: deadline)
  }

  deinit {
    tw_SSL_free(ssl)
  }

  var hasBufferedInput: Bool { tw_SSL_pending(ssl) > 0 }

  /// With TLS 1.3 the client's handshake ends before the server has checked
  /// the client's certificate; a server that wanted one and got none then
  /// just closes the connection, before any reply.
  var refusalBeforeFirstReply: String? {
    guard askedForMissingCertificate else { return nil }
    return "the server requires a client certificate (mutual TLS): give --tls-cert and --tls-key"
      + " (or ssl_certfile and ssl_keyfile)"
  }

  func read(into buffer: UnsafeMutableRawBufferPointer) -> TransportResult {
    tw_ERR_clear_error()
    errno = 0
    let count = tw_SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
    return count > 0 ? .transferred(Int(count)) : result(ofFailed: count)
  }

  func write(_ bytes: UnsafeRawBufferPointer) -> TransportResult {
    tw_ERR_clear_error()
    errno = 0
    let count = tw_SSL_write(ssl, bytes.baseAddress, Int32(clamping: bytes.count))
    return count > 0 ? .transferred(Int(count)) : result(ofFailed: count)
  }

  // MARK: - Handshake

  private func handshake(host: String, endpoint: String, until deadline: Deadline) throws(RedisError) {
    while true {
      tw_ERR_clear_error()
      errno = 0
      let status = tw_SSL_connect(ssl)
      if status == 1 { return }
      let events: Int16
      switch tw_SSL_get_error(ssl, status) {
      case SSL_ERROR_WANT_READ: events = Int16(POLLIN)
      case SSL_ERROR_WANT_WRITE: events = Int16(POLLOUT)
      case SSL_ERROR_SYSCALL, SSL_ERROR_ZERO_RETURN:
        let reason = errno == 0 ? "server closed the connection" : Errno(code: errno).description
        throw .connectFailed(endpoint: endpoint, reason: reason + " during the TLS handshake")
      default:
        throw .insecure(endpoint: endpoint, reason: handshakeFailure(host: host))
      }
      guard case .ready = SystemCall.poll(fileDescriptor, for: events, until: deadline), !deadline.hasPassed else {
        throw .connectFailed(
          endpoint: endpoint, reason: "no answer to the TLS handshake in time (is this a plain redis:// port?)")
      }
    }
  }

  /// Why the handshake failed, in a user's terms.
  private func handshakeFailure(host: String) -> String {
    let verification = tw_SSL_get_verify_result(ssl)
    let code = tw_ERR_peek_last_error()
    let reason = OpenSSLErrorQueue.drain()
    if verification != X509_V_OK {
      let subject = peerSubject().map { " (certificate subject: \($0))" } ?? ""
      if verification == X509_V_ERR_HOSTNAME_MISMATCH || verification == X509_V_ERR_IP_ADDRESS_MISMATCH {
        return "the server's certificate does not name '\(host)'\(subject)"
      }
      let why = String(cString: tw_X509_verify_cert_error_string(verification))
      return "the server's certificate is not trusted: \(why)\(subject); give its CA with ssl_ca_certs or --tls-ca"
    }
    if Self.notTLSReasons.contains(ERR_GET_REASON(code)) {
      return "the server did not answer in TLS (\(reason)): is this a plain redis:// port?"
    }
    return "TLS handshake failed: \(reason)"
  }

  /// Reasons OpenSSL gives when the bytes it got back are not TLS at all.
  private static let notTLSReasons: Set<Int32> = [
    SSL_R_WRONG_VERSION_NUMBER, SSL_R_PACKET_LENGTH_TOO_LONG, SSL_R_UNKNOWN_PROTOCOL,
    SSL_R_RECORD_LENGTH_MISMATCH,
  ]

  /// The server certificate's subject, e.g. `CN=localhost`.
  private func peerSubject() -> String? {
    guard let leaf = tw_SSL_peer_leaf(ssl), let name = tw_X509_get_subject_name(leaf) else { return nil }
    var buffer = [CChar](repeating: 0, count: 512)
    guard tw_X509_NAME_rfc2253(name, &buffer, Int32(buffer.count)) > 0 else { return nil }
    return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  // MARK: - Reads and writes

  private func result(ofFailed status: Int32) -> TransportResult {
    switch tw_SSL_get_error(ssl, status) {
    case SSL_ERROR_WANT_READ:
      return .wouldBlock(events: Int16(POLLIN))
    case SSL_ERROR_WANT_WRITE:
      return .wouldBlock(events: Int16(POLLOUT))
    case SSL_ERROR_ZERO_RETURN:
      return .closed
    case SSL_ERROR_SYSCALL:
      return errno == 0 ? .closed : .failed(reason: Errno(code: errno).description)
    default:
      let code = tw_ERR_peek_last_error()
      let reason = OpenSSLErrorQueue.drain()
      // Reasons from 1000 up are alerts the server sent: it ended the session
      // on purpose (e.g. "tlsv13 alert certificate required").
      guard ERR_GET_REASON(code) >= SSL_AD_REASON_OFFSET else { return .failed(reason: "TLS: " + reason) }
      let hint = reason.contains("certificate required") ? " (mutual TLS: give --tls-cert and --tls-key)" : ""
      return .refused(reason: "the server ended the TLS session: \(reason)\(hint)")
    }
  }

  private static func isIPAddress(_ host: String) -> Bool {
    var address = in6_addr()
    return inet_pton(AF_INET, host, &address) == 1 || inet_pton(AF_INET6, host, &address) == 1
  }
}

/// OpenSSL's client-certificate callback, called when the server asks for a
/// certificate and the context has none: notes the request on the transport
/// and sends none.
func noteCertificateRequest(
  ssl: OpaquePointer?, certificate: UnsafeMutablePointer<OpaquePointer?>?,
  key: UnsafeMutablePointer<OpaquePointer?>?
) -> Int32 {
  if let transport = tw_SSL_get_ex_data(ssl, 0) {
    Unmanaged<TLSTransport>.fromOpaque(transport).takeUnretainedValue().askedForMissingCertificate = true
  }
  return 0
}
