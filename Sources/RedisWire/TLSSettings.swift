/// What a TLS connection to Redis checks and presents, as a Celery
/// `rediss://` URL states it (`ssl_cert_reqs`, `ssl_ca_certs`, `ssl_certfile`,
/// `ssl_keyfile`, `ssl_check_hostname`).
///
/// The checks are redis-py 8.1's (`SSLConnection`, the version Celery 5.7
/// installs): `required` and `optional` both verify the chain (Python's
/// client sockets verify with `CERT_OPTIONAL` too) and, unless
/// `ssl_check_hostname` is false, that the certificate names the host;
/// `none` checks nothing, whatever `ssl_check_hostname` says.
public struct TLSSettings: Sendable, Hashable {
  /// How much of the server's certificate is checked.
  public enum CertificateRequirement: String, Sendable, Hashable, CaseIterable {
    /// The chain must lead to a trusted CA (and the certificate name the
    /// host, unless the host-name check is off).
    case required
    /// As ``required`` on a client socket: Python's `CERT_OPTIONAL` verifies
    /// the chain a server always sends, and redis-py checks the name too.
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
  /// redis-py's `ssl_check_hostname` as given; `nil` takes its default (true).
  public var hostnameCheck: Bool?

  /// Creates settings from their parts.
  public init(
    certificateRequirement: CertificateRequirement, caFile: String? = nil,
    certificateFile: String? = nil, keyFile: String? = nil, hostnameCheck: Bool? = nil
  ) {
    self.certificateRequirement = certificateRequirement
    self.caFile = caFile
    self.certificateFile = certificateFile
    self.keyFile = keyFile
    self.hostnameCheck = hostnameCheck
  }

  /// Whether the certificate must name the host: redis-py's rule,
  /// `ssl_check_hostname` (default true) unless nothing is verified.
  public var checksHostname: Bool {
    certificateRequirement != .none && (hostnameCheck ?? true)
  }

  /// The URL query parameters Celery reads for TLS.
  static let queryParameters = ["ssl_cert_reqs", "ssl_ca_certs", "ssl_certfile", "ssl_keyfile", "ssl_check_hostname"]

  /// redis-py's `to_bool` for a URL value: `0`, `f`, `false`, `n`, `no` (any
  /// case) are false, an empty value takes the default (`nil`), anything else is true.
  static func booleanValue(_ text: String) -> Bool? {
    if text.isEmpty { return nil }
    return !["0", "F", "FALSE", "N", "NO"].contains(text.uppercased())
  }

  /// The settings as URL query parameters, in Celery's names.
  var queryText: String {
    var parts = ["ssl_cert_reqs=\(certificateRequirement.rawValue)"]
    if let caFile { parts.append("ssl_ca_certs=\(caFile)") }
    if let certificateFile { parts.append("ssl_certfile=\(certificateFile)") }
    if let keyFile { parts.append("ssl_keyfile=\(keyFile)") }
    if let hostnameCheck { parts.append("ssl_check_hostname=\(hostnameCheck)") }
    return parts.joined(separator: "&")
  }
}
