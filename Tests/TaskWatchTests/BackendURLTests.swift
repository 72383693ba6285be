import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

@Suite("BackendURL")
struct BackendURLTests {
  @Test(
    "accepted forms",
    arguments: [
      ("redis://", BackendURL(endpoint: .tcp(host: "localhost", port: 6379))),
      ("redis://127.0.0.1:6390/2", BackendURL(endpoint: .tcp(host: "127.0.0.1", port: 6390), database: 2)),
      ("redis://:s3cret@host/0", BackendURL(endpoint: .tcp(host: "host", port: 6379), password: "s3cret")),
      (
        "redis://alice:p%40ss%3Aw@host:1234/5",
        BackendURL(endpoint: .tcp(host: "host", port: 1234), database: 5, username: "alice", password: "p@ss:w")
      ),
      // kombu's url_to_parts: a userinfo without ':' is the user name.
      ("redis://appuser@host", BackendURL(endpoint: .tcp(host: "host", port: 6379), username: "appuser")),
      // An empty password is none (redis-py then sends no AUTH).
      ("redis://:@host/1", BackendURL(endpoint: .tcp(host: "host", port: 6379), database: 1)),
      ("redis://u:@host", BackendURL(endpoint: .tcp(host: "host", port: 6379), username: "u")),
      ("redis://[fe80::1%25eth0]:7000/3", BackendURL(endpoint: .tcp(host: "fe80::1%eth0", port: 7000), database: 3)),
      ("redis://[fe80::1%eth0]:7000", BackendURL(endpoint: .tcp(host: "fe80::1%eth0", port: 7000))),
      ("redis://:p@ss@host", BackendURL(endpoint: .tcp(host: "host", port: 6379), password: "p@ss")),
      ("REDIS://h:1/3?socket_timeout=5", BackendURL(endpoint: .tcp(host: "h", port: 1), database: 3)),
      ("redis://[::1]:6400/1", BackendURL(endpoint: .tcp(host: "::1", port: 6400), database: 1)),
      ("unix:///run/redis.sock?db=4", BackendURL(endpoint: .unix(path: "/run/redis.sock"), database: 4)),
      ("redis+socket:///tmp/r.sock?virtual_host=7", BackendURL(endpoint: .unix(path: "/tmp/r.sock"), database: 7)),
      ("socket:///tmp/r.sock", BackendURL(endpoint: .unix(path: "/tmp/r.sock"))),
      ("unix://:pw@/tmp/r.sock", BackendURL(endpoint: .unix(path: "/tmp/r.sock"), password: "pw")),
    ])
  func accepted(text: String, expected: BackendURL) throws {
    #expect(try BackendURL.parse(text) == expected)
  }

  @Test(
    "refused forms",
    arguments: [
      ("localhost:6379", "expected a URL"),
      ("http://host/0", "unsupported URL scheme 'http://'"),
      ("redis://host:99999/0", "invalid port '99999'"),
      ("redis://host:abc/0", "invalid port 'abc'"),
      ("redis://host/x", "invalid database number 'x'"),
      ("redis://host/-1", "invalid database number '-1'"),
      ("redis://[::1/0", "unterminated IPv6 address"),
      ("redis://[]:7000/3", "empty host in '[]'"),
      ("redis://:p/w@127.0.0.1:6379/0", "percent-encode a '/' in the password as %2F"),
      ("HTTP://host/0", "unsupported URL scheme 'HTTP://'"),
      (#"CELERY_RESULT_BACKEND = "redis://h:1/0""#, #"'CELERY_RESULT_BACKEND = "redis://h:1/0"'"#),
      (#""redis://h:1/0""#, "looks like a settings line or a quoted string"),
      ("'redis://h:1/0'", "'redis://h:1/0'': this looks like a settings line"),
      ("result_backend=redis://h", "give only the URL"),
      ("redis://host/0?ssl_check_hostname=false", "ssl_check_hostname needs a rediss:// URL"),
      ("redis://:p%zz@host", "bad percent-escape"),
      ("unix://", "absolute path"),
      ("rediss://:pw@host:6380/0", "a TLS URL needs ssl_cert_reqs=required, optional or none"),
      ("rediss://host?ssl_cert_reqs=sometimes", "invalid ssl_cert_reqs 'sometimes'"),
      ("rediss://host?ssl_cert_reqs=none&ssl_ca_certs=", "ssl_ca_certs is empty"),
      ("redis://host/0?ssl_cert_reqs=none", "ssl_cert_reqs needs a rediss:// URL, not redis://"),
      ("unix:///tmp/r.sock?ssl_ca_certs=/ca.pem", "ssl_ca_certs needs a rediss:// URL, not unix://"),
      ("rediss://host?ssl_cert_reqs=none&ssl_certfile=%zz", "bad percent-escape in the query"),
      ("sentinel://h1:26379;redis://h2:6379", "every ';'-separated part must be a sentinel:// URL"),
      ("sentinel://h1:x", "invalid port 'x'"),
    ])
  func refused(text: String, fragment: String) {
    #expect {
      try BackendURL.parse(text)
    } throws: { error in
      String(describing: error).contains(fragment)
    }
  }

  @Test(
    "rediss:// URLs: Celery's ssl_cert_reqs spellings, percent-decoded paths",
    arguments: [
      ("rediss://h:6380/1?ssl_cert_reqs=required", TLSSettings(certificateRequirement: .required)),
      ("rediss://h:6380/1?ssl_cert_reqs=CERT_REQUIRED", TLSSettings(certificateRequirement: .required)),
      ("rediss://h:6380/1?ssl_cert_reqs=cert_optional", TLSSettings(certificateRequirement: .optional)),
      ("rediss://h:6380/1?ssl_cert_reqs=CERT_NONE&socket_timeout=3", TLSSettings(certificateRequirement: .none)),
      (
        "rediss://h:6380/1?ssl_cert_reqs=required&ssl_check_hostname=false",
        TLSSettings(certificateRequirement: .required, hostnameCheck: false)
      ),
      (
        "rediss://h:6380/1?ssl_cert_reqs=optional&ssl_check_hostname=True",
        TLSSettings(certificateRequirement: .optional, hostnameCheck: true)
      ),
      (
        "rediss://h:6380/1?ssl_cert_reqs=none&ssl_ca_certs=%2Fetc%2Fca.pem&ssl_certfile=/c.pem&ssl_keyfile=/k.pem",
        TLSSettings(certificateRequirement: .none, caFile: "/etc/ca.pem", certificateFile: "/c.pem", keyFile: "/k.pem")
      ),
    ])
  func tls(text: String, expected: TLSSettings) throws {
    let parsed = try BackendURL.parse(text)
    #expect(parsed.endpoint == .tcp(host: "h", port: 6380))
    #expect(parsed.database == 1)
    #expect(parsed.tls == expected)
    #expect(try BackendURL.parse(parsed.description) == parsed, "the description round-trips")
    #expect(parsed.description.hasPrefix("rediss://h:6380/1?ssl_cert_reqs="))
  }

  @Test(
    "the host-name check follows redis-py 8.1: on unless ssl_check_hostname is false, never with none",
    arguments: [
      ("required", nil, true), ("optional", nil, true), ("none", nil, false),
      ("required", "false", false), ("optional", "0", false), ("none", "true", false),
      ("optional", "yes", true),
    ] as [(String, String?, Bool)])
  func hostnameCheck(level: String, flag: String?, checks: Bool) throws {
    let query = "ssl_cert_reqs=\(level)" + (flag.map { "&ssl_check_hostname=\($0)" } ?? "")
    let parsed = try BackendURL.parse("rediss://h:6380/0?\(query)")
    #expect(parsed.tls?.checksHostname == checks)
  }

  @Test("Celery's redis_backend_use_ssl: a certificate requirement turns TLS on for redis:// and wins over the URL's")
  func backendUseSSL() throws {
    let plain = try BackendURL.parse(
      "redis://:pw@h:6380/2", certificateRequirement: TLSSettings.CertificateRequirement.none)
    #expect(plain.tls == TLSSettings(certificateRequirement: .none))
    #expect(plain.password == "pw" && plain.database == 2)
    #expect(
      try BackendURL.parse("rediss://h:1", certificateRequirement: .optional).tls?.certificateRequirement == .optional)
    let both = try BackendURL.parse(
      "rediss://h:1?ssl_cert_reqs=none&ssl_ca_certs=/ca.pem", certificateRequirement: .required)
    #expect(both.tls == TLSSettings(certificateRequirement: .required, caFile: "/ca.pem"))
    let sentinel = try BackendURL.parse("sentinel://h1:26379?master_name=m", certificateRequirement: .required)
    #expect(sentinel.tls == TLSSettings(certificateRequirement: .required))
    #expect(throws: BackendURLError.self) {
      try BackendURL.parse("unix:///tmp/r.sock", certificateRequirement: .required)
    }
    #expect(throws: BackendURLError.self) {
      try BackendURL.parse("redis://h/0?ssl_cert_reqs=none", certificateRequirement: .optional)
    }
    #expect(try BackendURL.parse("redis://h").tls == nil)
  }

  @Test("TLS parameters on a sentinel list put sentinels and master on TLS")
  func sentinelTLS() throws {
    let parsed = try BackendURL.parse(
      "sentinel://h1:26379;sentinel://h2:26379?master_name=m&ssl_cert_reqs=required&ssl_ca_certs=/ca.pem")
    #expect(parsed.tls == TLSSettings(certificateRequirement: .required, caFile: "/ca.pem"))
    #expect(try BackendURL.parse(parsed.description) == parsed)
    #expect(try BackendURL.parse("sentinel://h1:26379?master_name=m").tls == nil)
  }

  @Test(
    "sentinel lists: one endpoint per part, database and password from the first",
    arguments: [
      (
        "sentinel://h1:26379;sentinel://h2:26380",
        BackendURL(
          endpoint: .tcp(host: "h1", port: 26379),
          sentinels: [.tcp(host: "h1", port: 26379), .tcp(host: "h2", port: 26380)])
      ),
      (
        "sentinel://:s3cret@h1:5000/2;sentinel://h2/7;sentinel://[::1]?master_name=mymaster",
        BackendURL(
          endpoint: .tcp(host: "h1", port: 5000), database: 2, password: "s3cret",
          sentinels: [.tcp(host: "h1", port: 5000), .tcp(host: "h2", port: 26379), .tcp(host: "::1", port: 26379)],
          masterName: "mymaster")
      ),
      (
        "SENTINEL://h1?master_name=m&socket_timeout=1",
        BackendURL(endpoint: .tcp(host: "h1", port: 26379), sentinels: [.tcp(host: "h1", port: 26379)], masterName: "m")
      ),
    ])
  func sentinels(text: String, expected: BackendURL) throws {
    let parsed = try BackendURL.parse(text)
    #expect(parsed == expected)
    #expect(parsed.usesSentinel)
  }

  @Test("a sentinel list's description hides the password and round-trips")
  func sentinelDescription() throws {
    let url = try BackendURL.parse("sentinel://:hunter2@h1:1/3;sentinel://h2:2/3?master_name=m")
    #expect(url.description == "sentinel://:***@h1:1/3;sentinel://h2:2/3?master_name=m")
    #expect(url.serverDescription == "master 'm' via sentinels h1:1, h2:2")
    var reparsed = try BackendURL.parse(url.description.replacing("***", with: "hunter2"))
    reparsed.password = "hunter2"
    #expect(reparsed == url)
    let error = BackendURLError.malformed("sentinel://:hunter2@h1:1;sentinel://:hunter2@h2:x", reason: "r")
    #expect(!error.description.contains("hunter2"))
    #expect(error.description.contains("sentinel://:***@h1:1;sentinel://:***@h2:x"))
  }

  @Test("descriptions never show the password")
  func redaction() throws {
    let url = try BackendURL.parse("redis://alice:hunter2@h:1/2")
    #expect(url.description == "redis://alice:***@h:1/2")
    #expect(!String(describing: BackendURLError.malformed("redis://:hunter2@h:x", reason: "r")).contains("hunter2"))
    #expect(
      !String(describing: (try? BackendURL.parse("rediss://:hunter2@h")).map { "\($0)" } ?? "").contains("hunter2"))
    do {
      _ = try BackendURL.parse("rediss://u:hunter2@h/0")
    } catch {
      #expect(!error.description.contains("hunter2"))
      #expect(error.description.contains("u:***@h"))
    }
  }
}
