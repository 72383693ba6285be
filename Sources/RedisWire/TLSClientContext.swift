@preconcurrency import COpenSSL
import Glibc
import Synchronization

/// The OpenSSL client context (`SSL_CTX`) for one set of ``TLSSettings``:
/// trusted CAs loaded, client certificate and key checked, TLS 1.2 at least.
///
/// Loading a CA bundle costs milliseconds, so a context is made once per
/// settings and shared by every connection (``shared(for:)``); OpenSSL allows
/// that once the context is set up. The first context loads OpenSSL itself
/// (`libssl.so.3`, with `dlopen`): runs without TLS never pay for it.
package final class TLSClientContext: @unchecked Sendable {
  /// The settings this context was made from.
  package let settings: TLSSettings
  let context: OpaquePointer

  private static let cache = Mutex<[TLSSettings: TLSClientContext]>([:])

  /// The context for `settings`, made on first use.
  /// - Throws: ``TLSSetupError`` when a file cannot be read or does not hold
  ///   what it should (a bad configuration, never cured by retrying), or when
  ///   OpenSSL cannot be loaded (``TLSSetupError/isLibraryMissing``).
  package static func shared(for settings: TLSSettings) throws(TLSSetupError) -> TLSClientContext {
    var reason = [CChar](repeating: 0, count: 512)
    guard tw_openssl_load(&reason, reason.count) == 1 else {
      let text = String(decoding: reason.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
      throw TLSSetupError(file: nil, reason: text + " (install libssl3)", isLibraryMissing: true)
    }
    let made: Result<TLSClientContext, TLSSetupError> = cache.withLock { contexts in
      if let context = contexts[settings] { return .success(context) }
      do throws(TLSSetupError) {
        let context = try TLSClientContext(settings: settings)
        contexts[settings] = context
        return .success(context)
      } catch {
        return .failure(error)
      }
    }
    return try made.get()
  }

  private init(settings: TLSSettings) throws(TLSSetupError) {
    self.settings = settings
    tw_ERR_clear_error()
    guard let context = tw_SSL_CTX_new(tw_TLS_client_method()) else {
      throw TLSSetupError(file: nil, reason: "cannot create a TLS context: " + OpenSSLErrorQueue.drain())
    }
    self.context = context
    _ = tw_SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION)
    // A write that would block is retried with the buffer where it now is
    // (Swift arrays move) and may complete partly, like a socket write.
    _ = tw_SSL_CTX_set_mode(
      context, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
    let verifies = settings.certificateRequirement != .none
    tw_SSL_CTX_set_verify(context, verifies ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nil)
    try loadTrust()
    try loadClientCertificate()
  }

  deinit {
    tw_SSL_CTX_free(context)
  }

  private func loadTrust() throws(TLSSetupError) {
    guard let caFile = settings.caFile else {
      if settings.certificateRequirement != .none { _ = tw_SSL_CTX_set_default_verify_paths(context) }
      return
    }
    try Self.requireReadable(caFile, role: "CA file")
    guard tw_SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
      throw TLSSetupError(file: caFile, reason: "no CA certificate in it (" + OpenSSLErrorQueue.drain() + ")")
    }
  }

  private func loadClientCertificate() throws(TLSSetupError) {
    guard let certificateFile = settings.certificateFile else {
      tw_SSL_CTX_set_client_cert_cb(context, noteCertificateRequest)
      if let keyFile = settings.keyFile {
        throw TLSSetupError(file: keyFile, reason: "a client key needs its certificate (ssl_certfile, --tls-cert)")
      }
      return
    }
    let keyFile = settings.keyFile ?? certificateFile
    try Self.requireReadable(certificateFile, role: "client certificate")
    try Self.requireReadable(keyFile, role: "client key")
    guard tw_SSL_CTX_use_certificate_chain_file(context, certificateFile) == 1 else {
      throw TLSSetupError(
        file: certificateFile, reason: "not a PEM certificate (" + OpenSSLErrorQueue.drain() + ")")
    }
    let mismatch = "the key does not belong to \(certificateFile)"
    guard tw_SSL_CTX_use_PrivateKey_file(context, keyFile, SSL_FILETYPE_PEM) == 1 else {
      let reason = OpenSSLErrorQueue.drain()
      let problem = reason.contains("mismatch") ? mismatch : "not a PEM private key"
      throw TLSSetupError(file: keyFile, reason: "\(problem) (\(reason))")
    }
    guard tw_SSL_CTX_check_private_key(context) == 1 else {
      throw TLSSetupError(file: keyFile, reason: "\(mismatch) (" + OpenSSLErrorQueue.drain() + ")")
    }
  }

  /// Fails with the system's words ("no such file or directory") before
  /// OpenSSL gives vaguer ones.
  private static func requireReadable(_ path: String, role: String) throws(TLSSetupError) {
    guard let file = fopen(path, "r") else {
      throw TLSSetupError(file: path, reason: "cannot read the \(role): " + Errno(code: errno).description)
    }
    fclose(file)
  }
}

/// TLS cannot be set up: a file missing or unreadable, or not holding what it
/// should (exit status 64 in the CLI), or OpenSSL itself missing from the
/// machine (69).
public struct TLSSetupError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The file concerned, if any.
  public let file: String?
  /// What is wrong with it.
  public let reason: String
  /// Whether OpenSSL could not be loaded, rather than a setting being wrong.
  public let isLibraryMissing: Bool

  /// Creates the error.
  public init(file: String?, reason: String, isLibraryMissing: Bool = false) {
    self.file = file
    self.reason = reason
    self.isLibraryMissing = isLibraryMissing
  }

  /// A one-line message for the user.
  public var description: String {
    guard let file else { return "TLS: \(reason)" }
    return "TLS: '\(file)': \(reason)"
  }
}

/// OpenSSL's thread-local error queue, read as text.
enum OpenSSLErrorQueue {
  /// Empties the queue and returns the reason of its last entry ("unknown
  /// error" when it was empty).
  static func drain() -> String {
    var last: UInt = 0
    while case let code = tw_ERR_get_error(), code != 0 { last = code }
    return reason(of: last)
  }

  /// The text of one error code's reason, e.g. "wrong version number".
  static func reason(of code: UInt) -> String {
    guard code != 0, let text = tw_ERR_reason_error_string(code) else { return "unknown error" }
    return String(cString: text)
  }
}
