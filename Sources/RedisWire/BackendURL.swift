/// A Celery result-backend URL, parsed the way Celery reads it.
///
/// Accepted forms:
/// - `redis://[[user]:password@]host[:port][/db]`
/// - `unix:///path.sock?db=N`, `redis+socket:///path?virtual_host=N`, `socket:///path`
/// - `sentinel://[:password@]host1:26379[/db];sentinel://host2:26379[/db];...`
///   (Celery's Redis Sentinel form: the database and password, which are the
///   master's, come from the first part; `master_name` may be a query parameter)
///
/// - `rediss://[[user]:password@]host[:port][/db]?ssl_cert_reqs=required|optional|none`
///   (TLS; also `CERT_REQUIRED`…, and `ssl_ca_certs`, `ssl_certfile`,
///   `ssl_keyfile` paths). As in Celery, `ssl_cert_reqs` is required there and
///   TLS parameters on a plain `redis://` or socket URL are an error. The same
///   parameters on a `sentinel://` URL put the sentinels and the master on TLS.
/// - `redis+cluster://[[user]:password@]host:port[,host:port…][/0]` and
///   `rediss+cluster://…?ssl_cert_reqs=…` (Redis Cluster, as the
///   `celery-redis-cluster` backend names it: the hosts are seed nodes, the
///   cluster tells the rest; a cluster has database 0 only)
///
/// Credentials follow kombu and redis-py: in `user:password@` either part may
/// be left out; a userinfo without `:` (`redis://appuser@host`) is a user
/// name, and an empty password (`redis://:@host`) is no password, so no
/// `AUTH` is sent. User, password, host and query values are
/// percent-decoded (an IPv6 zone id is written `[fe80::1%25eth0]`). Unknown
/// query parameters (Celery's transport options such as `socket_timeout`)
/// are ignored.
public struct BackendURL: Sendable, Equatable, CustomStringConvertible {
  /// Where the server listens.
  public var endpoint: RedisEndpoint
  /// The database number for stored keys (pub/sub ignores it).
  public var database: Int
  /// The ACL user name, if any (`AUTH user password`).
  public var username: String?
  /// The password, if any.
  public var password: String?
  /// For a `sentinel://` URL, the sentinels to ask for the master, in order;
  /// empty for every other form. ``endpoint`` is then the first sentinel: the
  /// master's address is only known once a sentinel was asked.
  public var sentinels: [RedisEndpoint]
  /// For a `sentinel://` URL, the name of the master the sentinels monitor.
  public var masterName: String?
  /// For a `sentinel://` URL, the password sent to the sentinels (``password``
  /// is the master's).
  public var sentinelPassword: String?
  /// For a `redis+cluster://` URL, the seed nodes, in order; empty for every
  /// other form. ``endpoint`` is then the first seed.
  public var clusterNodes: [RedisEndpoint]
  /// TLS settings for a `rediss://` URL (or a `sentinel://` URL with TLS
  /// parameters); `nil` for a plain connection.
  public var tls: TLSSettings?

  /// Creates a URL value from its parts.
  public init(
    endpoint: RedisEndpoint, database: Int = 0, username: String? = nil, password: String? = nil,
    sentinels: [RedisEndpoint] = [], masterName: String? = nil, sentinelPassword: String? = nil,
    tls: TLSSettings? = nil, clusterNodes: [RedisEndpoint] = []
  ) {
    self.endpoint = endpoint
    self.database = database
    self.username = username
    self.password = password
    self.sentinels = sentinels
    self.masterName = masterName
    self.sentinelPassword = sentinelPassword
    self.tls = tls
    self.clusterNodes = clusterNodes
  }

  /// Whether the master is found through Redis Sentinel.
  public var usesSentinel: Bool { !sentinels.isEmpty }

  /// Whether the backend is a Redis Cluster (found through its seed nodes).
  public var usesCluster: Bool { !clusterNodes.isEmpty }

  /// The server named in messages: the endpoint, or for a sentinel URL the
  /// master's name and the sentinels that know it.
  public var serverDescription: String {
    if usesCluster { return "cluster via " + clusterNodes.map(\.description).joined(separator: ", ") }
    guard usesSentinel else { return endpoint.description }
    let list = sentinels.map(\.description).joined(separator: ", ")
    return "master '\(masterName ?? "")' via sentinels \(list)"
  }

  /// The URL with the password replaced by `***`, safe to print.
  public var description: String {
    var credentials = ""
    if username != nil || password != nil {
      credentials = (username ?? "") + (password == nil ? "" : ":***") + "@"
    }
    if usesSentinel {
      let parts = sentinels.enumerated().map { position, sentinel in
        "sentinel://\(position == 0 ? credentials : "")\(sentinel)/\(database)"
      }
      let query = [masterName.map { "master_name=\($0)" }, tls?.queryText].compactMap { $0 }
      return parts.joined(separator: ";") + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }
    if usesCluster {
      let hosts = clusterNodes.map(\.description).joined(separator: ",")
      guard let tls else { return "redis+cluster://\(credentials)\(hosts)/\(database)" }
      return "rediss+cluster://\(credentials)\(hosts)/\(database)?\(tls.queryText)"
    }
    switch endpoint {
    case .tcp:
      guard let tls else { return "redis://\(credentials)\(endpoint)/\(database)" }
      return "rediss://\(credentials)\(endpoint)/\(database)?\(tls.queryText)"
    case .unix(let path):
      return "unix://\(credentials)\(path)?db=\(database)"
    }
  }

  /// Parses a backend URL.
  /// - Parameters:
  ///   - text: the URL in any of Celery's forms.
  ///   - certificateRequirement: Celery's `redis_backend_use_ssl`
  ///     setting (its `ssl_cert_reqs` key): when given, a `redis://` or
  ///     `sentinel://` URL connects with TLS, as Celery does when that setting
  ///     is a dict, and it wins over a `rediss://` URL's `ssl_cert_reqs`.
  /// - Throws: ``BackendURLError`` naming what is wrong.
  public static func parse(
    _ text: String, certificateRequirement: TLSSettings.CertificateRequirement? = nil
  ) throws(BackendURLError) -> BackendURL {
    var backend = try parseURL(text, certificateRequirement: certificateRequirement)
    if let certificateRequirement, backend.tls == nil {
      guard case .tcp = backend.endpoint else {
        throw .malformed(text, reason: "TLS needs a TCP address, not a unix socket")
      }
      backend.tls = TLSSettings(certificateRequirement: certificateRequirement)
    }
    return backend
  }

  private static func parseURL(
    _ text: String, certificateRequirement: TLSSettings.CertificateRequirement?
  ) throws(BackendURLError) -> BackendURL {
    if text.lowercased().hasPrefix("sentinel://") {
      return try parseSentinel(text, certificateRequirement: certificateRequirement)
    }
    guard let schemeEnd = text.firstRange(of: "://") else {
      throw .malformed(text, reason: "expected a URL such as redis://127.0.0.1:6379/0")
    }
    let writtenScheme = text[..<schemeEnd.lowerBound]
    if writtenScheme.contains(where: { "\"'= \t".contains($0) }) {
      throw .malformed(
        text,
        reason: "this looks like a settings line or a quoted string: give only the URL, e.g. redis://127.0.0.1:6379/0")
    }
    let scheme = writtenScheme.lowercased()
    var rest = Substring(text[schemeEnd.upperBound...])
    var query: [String: String] = [:]
    if let mark = rest.firstIndex(of: "?") {
      query = try parseQuery(rest[rest.index(after: mark)...], text: text)
      rest = rest[..<mark]
    }
    if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }

    switch scheme {
    case "redis":
      try refuseTLSParameters(query, scheme: "redis", text: text)
      return try parseTCP(rest, text: text)
    case "unix", "socket", "redis+socket":
      try refuseTLSParameters(query, scheme: String(scheme), text: text)
      return try parseSocket(rest, query: query, text: text)
    case "rediss":
      var backend = try parseTCP(rest, text: text)
      backend.tls = try tlsSettings(query, certificateRequirement: certificateRequirement, text: text)
      return backend
    case "redis+cluster":
      try refuseTLSParameters(query, scheme: "redis+cluster", text: text)
      return try parseCluster(rest, text: text)
    case "rediss+cluster":
      var backend = try parseCluster(rest, text: text)
      backend.tls = try tlsSettings(query, certificateRequirement: certificateRequirement, text: text)
      return backend
    default:
      throw .unknownScheme(String(writtenScheme))
    }
  }

  /// Celery's `sentinel://a;sentinel://b` list: every part names one sentinel;
  /// the first part's database and credentials are the master's.
  private static func parseSentinel(
    _ text: String, certificateRequirement: TLSSettings.CertificateRequirement?
  ) throws(BackendURLError) -> BackendURL {
    var parsed: [BackendURL] = []
    var masterName: String?
    var tlsQuery: [String: String] = [:]
    // Not empty: the caller saw the text start with `sentinel://`.
    for part in text.split(separator: ";") {
      let part = part.trimmingPrefix(while: { $0 == " " })
      guard part.lowercased().hasPrefix("sentinel://") else {
        throw .malformed(text, reason: "every ';'-separated part must be a sentinel:// URL")
      }
      var rest = part.dropFirst("sentinel://".count)
      if let mark = rest.firstIndex(of: "?") {
        let query = try parseQuery(rest[rest.index(after: mark)...], text: text)
        if let name = query["master_name"], !name.isEmpty { masterName = name }
        for name in TLSSettings.queryParameters { tlsQuery[name] = query[name] ?? tlsQuery[name] }
        rest = rest[..<mark]
      }
      if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
      parsed.append(try parseTCP(rest, text: text, defaultPort: 26379))
    }
    var backend = parsed[0]
    backend.sentinels = parsed.map(\.endpoint)
    backend.masterName = masterName
    if !tlsQuery.isEmpty {
      backend.tls = try tlsSettings(tlsQuery, certificateRequirement: certificateRequirement, text: text)
    }
    return backend
  }

  /// A cluster's seed list: `[credentials@]host:port,host:port…[/0]`; the
  /// credentials (for every node) come before the first host, the database
  /// (which must be 0) after the last.
  private static func parseCluster(_ rest: Substring, text: String) throws(BackendURLError) -> BackendURL {
    var authority = rest
    var path: Substring = ""
    if let slash = rest.firstIndex(of: "/") {
      authority = rest[..<slash]
      path = rest[slash...]
    }
    var credentials: Substring = ""
    var hosts = authority
    if let at = authority.lastIndex(of: "@") {
      credentials = authority[...at]
      hosts = authority[authority.index(after: at)...]
    }
    let parts = hosts.split(separator: ",", omittingEmptySubsequences: false)
    guard !parts.contains(where: \.isEmpty) else {
      throw .malformed(text, reason: "empty host in the cluster's node list")
    }
    var seeds: [RedisEndpoint] = []
    for part in parts {
      seeds.append(try parseTCP(part, text: text).endpoint)
    }
    var backend = try parseTCP(credentials + (parts.first ?? "") + path, text: text)
    guard backend.database == 0 else {
      throw .malformed(text, reason: "a Redis Cluster has only database 0, not \(backend.database)")
    }
    backend.clusterNodes = seeds
    return backend
  }

  /// The TLS settings in a query, by Celery's rules: `ssl_cert_reqs` must be
  /// there (or given as `certificateRequirement`) and name a known level;
  /// `ssl_check_hostname` is redis-py's boolean.
  private static func tlsSettings(
    _ query: [String: String], certificateRequirement: TLSSettings.CertificateRequirement?, text: String
  ) throws(BackendURLError) -> TLSSettings {
    var requirement = certificateRequirement
    if let level = query["ssl_cert_reqs"] {
      guard let named = TLSSettings.CertificateRequirement(celeryValue: level) else {
        throw .malformed(
          text, reason: "invalid ssl_cert_reqs '\(level)': use required, optional or none (or CERT_REQUIRED, …)")
      }
      requirement = certificateRequirement ?? named
    }
    guard let requirement else {
      throw .malformed(
        text, reason: "a TLS URL needs ssl_cert_reqs=required, optional or none (as Celery requires)")
    }
    let hostnameCheck = query["ssl_check_hostname"].flatMap(TLSSettings.booleanValue)
    func path(_ name: String) throws(BackendURLError) -> String? {
      guard let value = query[name] else { return nil }
      guard !value.isEmpty else { throw .malformed(text, reason: "\(name) is empty") }
      return value
    }
    return TLSSettings(
      certificateRequirement: requirement, caFile: try path("ssl_ca_certs"),
      certificateFile: try path("ssl_certfile"), keyFile: try path("ssl_keyfile"), hostnameCheck: hostnameCheck)
  }

  /// Celery refuses TLS parameters on a URL that does not use TLS.
  private static func refuseTLSParameters(
    _ query: [String: String], scheme: String, text: String
  ) throws(BackendURLError) {
    if let name = TLSSettings.queryParameters.first(where: { query[$0] != nil }) {
      throw .malformed(text, reason: "\(name) needs a rediss:// URL, not \(scheme)://")
    }
  }

  private static func parseTCP(
    _ rest: Substring, text: String, defaultPort: Int = 6379
  ) throws(BackendURLError) -> BackendURL {
    var authority = rest
    var path: Substring = ""
    if let slash = rest.firstIndex(of: "/") {
      authority = rest[..<slash]
      path = rest[rest.index(after: slash)...]
    }
    let (username, password, hostPort) = try splitCredentials(authority, text: text)
    if path.contains("@") {
      // The text after a '/' in the password was read as the database.
      throw .malformed(
        text,
        reason: "invalid database number: an '@' follows the first '/'; percent-encode a '/' in the password as %2F"
          + " (and '@' as %40)")
    }
    var host = "localhost"
    var port = defaultPort
    if hostPort.hasPrefix("[") {
      guard let close = hostPort.firstIndex(of: "]") else {
        throw .malformed(text, reason: "unterminated IPv6 address")
      }
      host = hostDecoded(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
      guard !host.isEmpty else { throw .malformed(text, reason: "empty host in '[]'") }
      let after = hostPort[hostPort.index(after: close)...]
      if !after.isEmpty {
        guard after.hasPrefix(":") else { throw .malformed(text, reason: "junk after IPv6 address") }
        port = try parsePort(after.dropFirst(), text: text)
      }
    } else if let colon = hostPort.lastIndex(of: ":") {
      if colon != hostPort.startIndex { host = hostDecoded(hostPort[..<colon]) }
      port = try parsePort(hostPort[hostPort.index(after: colon)...], text: text)
    } else if !hostPort.isEmpty {
      host = hostDecoded(hostPort)
    }
    guard !host.contains(where: { $0 == " " || $0 == "/" || $0 == "@" }) else {
      throw .malformed(text, reason: "invalid host '\(host)'")
    }
    let databaseText = path.split(separator: "/", omittingEmptySubsequences: true).first ?? ""
    let database = try parseDatabase(databaseText, text: text)
    return BackendURL(
      endpoint: .tcp(host: host, port: port), database: database, username: username,
      password: password)
  }

  private static func parseSocket(
    _ rest: Substring, query: [String: String], text: String
  ) throws(BackendURLError) -> BackendURL {
    var location = rest
    var username: String?
    var password: String?
    if let at = rest.lastIndex(of: "@") {
      (username, password, _) = try splitCredentials(rest[...at], text: text)
      location = rest[rest.index(after: at)...]
    }
    guard location.hasPrefix("/"), location.count > 1 else {
      throw .malformed(text, reason: "a socket URL needs an absolute path, e.g. unix:///run/redis.sock")
    }
    let databaseText = query["db"] ?? query["virtual_host"] ?? ""
    let database = try parseDatabase(Substring(databaseText), text: text)
    return BackendURL(
      endpoint: .unix(path: String(location)), database: database, username: username,
      password: password)
  }

  /// Splits `user:password@rest` (either part optional) and percent-decodes
  /// both, as kombu's `url_to_parts` does: a userinfo without `:` is the user
  /// name, and an empty user name or password counts as none.
  private static func splitCredentials(
    _ authority: Substring, text: String
  ) throws(BackendURLError) -> (String?, String?, Substring) {
    guard let at = authority.lastIndex(of: "@") else { return (nil, nil, authority) }
    let userInfo = authority[..<at]
    let remainder = authority[authority.index(after: at)...]
    var username: String?
    var password: String?
    if let colon = userInfo.firstIndex(of: ":") {
      let user = userInfo[..<colon]
      let secret = userInfo[userInfo.index(after: colon)...]
      username = user.isEmpty ? nil : try percentDecoded(user, text: text)
      password = secret.isEmpty ? nil : try percentDecoded(secret, text: text)
    } else if !userInfo.isEmpty {
      username = try percentDecoded(userInfo, text: text)
    }
    return (username, password, remainder)
  }

  private static func parsePort(_ digits: Substring, text: String) throws(BackendURLError) -> Int {
    guard let port = Int(digits), (1...65535).contains(port) else {
      throw .malformed(text, reason: "invalid port '\(digits)'")
    }
    return port
  }

  private static func parseDatabase(_ digits: Substring, text: String) throws(BackendURLError) -> Int {
    if digits.isEmpty { return 0 }
    guard let database = Int(digits), database >= 0 else {
      throw .malformed(text, reason: "invalid database number '\(digits)'")
    }
    return database
  }

  private static func parseQuery(_ query: Substring, text: String) throws(BackendURLError) -> [String: String] {
    var values: [String: String] = [:]
    for pair in query.split(separator: "&") {
      let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      values[String(parts[0])] = parts.count > 1 ? try percentDecoded(parts[1], text: text, in: "the query") : ""
    }
    return values
  }

  private static func percentDecoded(
    _ text: Substring, text url: String, in part: String = "credentials"
  ) throws(BackendURLError) -> String {
    var bytes = [UInt8]()
    var iterator = Array(text.utf8).makeIterator()
    while let byte = iterator.next() {
      if byte == UInt8(ascii: "%") {
        guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue)
        else { throw .malformed(url, reason: "bad percent-escape in \(part)") }
        bytes.append(high << 4 | low)
      } else {
        bytes.append(byte)
      }
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  /// A host percent-decoded as Python's `unquote` does it (kombu and
  /// redis-py): a `%` not followed by two hex digits stays as written.
  private static func hostDecoded(_ text: Substring) -> String {
    let bytes = Array(text.utf8)
    var decoded = [UInt8]()
    var index = 0
    while index < bytes.count {
      if bytes[index] == UInt8(ascii: "%"), index + 2 < bytes.count,
        let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2])
      {
        decoded.append(high << 4 | low)
        index += 3
      } else {
        decoded.append(bytes[index])
        index += 1
      }
    }
    return String(decoding: decoded, as: UTF8.self)
  }

  private static func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
    default: return nil
    }
  }
}

/// Why a backend URL was refused. Descriptions never contain the password.
public enum BackendURLError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The text is not a URL of a known form.
  case malformed(String, reason: String)
  /// The scheme is not one Celery's Redis backend uses.
  case unknownScheme(String)

  /// A one-line message for the user.
  public var description: String {
    switch self {
    case .malformed(let url, let reason):
      return "invalid backend URL '\(Self.redact(url))': \(reason)"
    case .unknownScheme(let scheme):
      return
        "unsupported URL scheme '\(scheme)://': use redis://, rediss://, unix://, redis+socket://, socket://, sentinel://,"
        + " redis+cluster:// or rediss+cluster://"
    }
  }

  /// Hides whatever stands between `://` and the last `@` after the first `:`,
  /// in each `;`-separated part (Celery's sentinel lists).
  static func redact(_ url: String) -> String {
    if url.contains(";") {
      return url.split(separator: ";", omittingEmptySubsequences: false).map { redact(String($0)) }
        .joined(separator: ";")
    }
    guard let schemeEnd = url.firstRange(of: "://"), let at = url.lastIndex(of: "@"),
      at > schemeEnd.upperBound
    else { return url }
    let userInfo = url[schemeEnd.upperBound..<at]
    guard let colon = userInfo.firstIndex(of: ":") else {
      return url[..<schemeEnd.upperBound] + "***" + url[at...]
    }
    return url[..<colon] + ":***" + url[at...]
  }
}
