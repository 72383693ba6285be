import Foundation

/// Certificates made with the `openssl` CLI for one test process: a CA, a
/// server certificate for 127.0.0.1 and localhost, a client certificate for
/// mutual TLS, a server certificate naming another host, and a second CA that
/// signed nothing here (so trusting it trusts no server).
public final class TLSCertificates: @unchecked Sendable {
  /// The directory holding every file.
  public let directory: URL

  /// The CA that signed the server and client certificates.
  public var caFile: String { path("ca.crt") }
  /// A CA unrelated to every certificate here.
  public var otherCAFile: String { path("other-ca.crt") }
  /// The server certificate for `127.0.0.1` and `localhost`.
  public var serverCertificate: String { path("server.crt") }
  /// Its key.
  public var serverKey: String { path("server.key") }
  /// A server certificate for `elsewhere.example` only, signed by the CA.
  public var wrongNameCertificate: String { path("wrong-name.crt") }
  /// Its key.
  public var wrongNameKey: String { path("wrong-name.key") }
  /// A client certificate (`CN=taskwatch-client`), signed by the CA.
  public var clientCertificate: String { path("client.crt") }
  /// Its key.
  public var clientKey: String { path("client.key") }

  /// The certificates shared by every TLS test of this process.
  public static let shared: TLSCertificates = {
    do {
      return try TLSCertificates()
    } catch {
      fatalError("cannot make test certificates: \(error)")
    }
  }()

  private init() throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "taskwatch-tls-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    try makeCA("ca", subject: "/CN=taskwatch test CA")
    try makeCA("other-ca", subject: "/CN=taskwatch unrelated CA")
    try makeLeaf(
      "server", subject: "/CN=localhost",
      extensions: "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    try makeLeaf(
      "wrong-name", subject: "/CN=elsewhere.example",
      extensions: "subjectAltName=DNS:elsewhere.example\nextendedKeyUsage=serverAuth\n")
    try makeLeaf("client", subject: "/CN=taskwatch-client", extensions: "extendedKeyUsage=clientAuth\n")
  }

  private func path(_ name: String) -> String {
    directory.appendingPathComponent(name).path
  }

  /// Elliptic-curve keys: generated in milliseconds, unlike RSA.
  private static let keyOptions = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

  private func makeCA(_ name: String, subject: String) throws {
    try openssl(
      ["req", "-x509"] + Self.keyOptions
        + ["-keyout", path("\(name).key"), "-out", path("\(name).crt"), "-subj", subject, "-days", "2"])
  }

  private func makeLeaf(_ name: String, subject: String, extensions: String) throws {
    try Data(extensions.utf8).write(to: URL(fileURLWithPath: path("\(name).ext")))
    try openssl(
      ["req"] + Self.keyOptions + ["-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", subject])
    try openssl([
      "x509", "-req", "-in", path("\(name).csr"), "-CA", caFile, "-CAkey", path("ca.key"),
      "-CAcreateserial", "-out", path("\(name).crt"), "-days", "2", "-extfile", path("\(name).ext"),
    ])
  }

  private func openssl(_ arguments: [String]) throws {
    let result = try CapturedProcess("/usr/bin/openssl", arguments).finish(seconds: 30)
    guard result.status == 0 else {
      throw TestSupportError("openssl \(arguments.prefix(2).joined(separator: " ")) failed: \(result.stderr)")
    }
  }
}

/// A `redis-server` that listens on a TLS port as well as its plain one (the
/// plain port is for the test's own commands; pub/sub spans both).
public final class TLSRedisServer: @unchecked Sendable {
  /// The server, reachable without TLS on `server.port`.
  public let server: RedisServer
  /// The TLS port.
  public let tlsPort: Int

  /// Starts the server with `certificate`/`key` (default: the one for
  /// 127.0.0.1); with `requireClientCertificates`, clients must present a
  /// certificate signed by the test CA.
  public init(
    certificate: String? = nil, key: String? = nil, requireClientCertificates: Bool = false
  ) throws {
    let certificates = TLSCertificates.shared
    tlsPort = try FreePort.pick()
    server = try RedisServer(extraArguments: [
      "--tls-port", String(tlsPort),
      "--tls-cert-file", certificate ?? certificates.serverCertificate,
      "--tls-key-file", key ?? certificates.serverKey,
      "--tls-ca-cert-file", certificates.caFile,
      "--tls-auth-clients", requireClientCertificates ? "yes" : "no",
    ])
  }

  /// A `rediss://` URL for the TLS port with `query` (e.g. `ssl_cert_reqs=none`).
  public func url(host: String = "127.0.0.1", _ query: String) -> String {
    "rediss://\(host):\(tlsPort)/0?\(query)"
  }
}
