/// What a TLS connection to Redis checks and presents, as a Celery
/// `rediss://` URL states it (`ssl_cert_reqs`, `ssl_ca_certs`, `ssl_certfile`,
/// `ssl_keyfile`).
public struct TLSSettings: Sendable, Hashable {
  /// How much of the server's certificate is checked.
  public enum CertificateRequirement: String, Sendable, Hashable, CaseIterable {
    /// The chain must lead to a trusted CA and the certificate must name the
    /// host (the name or IP address the URL connects to).
    case required
    /// The chain must lead to a trusted CA; the name is not checked. (Python's
    /// `CERT_OPTIONAL` verifies the chain on a client socket as well.)
    case optional
    /// Nothing is checked: the link is encrypted, not authenticated.
    case none

    /// Reads Celery's spellings: `required`, `CERT_REQUIRED`, and so on, in
    /// any case.
    public init?(celeryValue: String) {
      var value = celeryValue.lowercased()
      if value.hasPrefix("cert_") { value.removeFirst("cert_".count) }
      self.init(rawValue: value)
    }
  }

  /// How much of the server's certificate is checked.
  public var certificateRequirement: CertificateRequirement
  /// PEM file of the CAs to trust; `nil` trusts the system's store.
  public var caFile: String?
  /// PEM certificate (chain) presented to a server that asks for one (mutual TLS).
  public var certificateFile: String?
  /// PEM private key of ``certificateFile``; `nil` when the key is in that file.
  public var keyFile: String?

  /// Creates settings from their parts.
  public init(
    certificateRequirement: CertificateRequirement, caFile: String? = nil,
    certificateFile: String? = nil, keyFile: String? = nil
  ) {
    self.certificateRequirement = certificateRequirement
    self.caFile = caFile
    self.certificateFile = certificateFile
    self.keyFile = keyFile
  }

  /// The URL query parameters Celery reads for TLS.
  static let queryParameters = ["ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile"]

  /// The settings as URL query parameters, in Celery's names.
  var queryText: String {
    var parts = ["ssl_cert_reqs=\(certificateRequirement.rawValue)"]
    if let caFile { parts.append("ssl_ca_certs=\(caFile)") }
    if let certificateFile { parts.append("ssl_certfile=\(certificateFile)") }
    if let keyFile { parts.append("ssl_keyfile=\(keyFile)") }
    return parts.joined(separator: "&")
  }
}
