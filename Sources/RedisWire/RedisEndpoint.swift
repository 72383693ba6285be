/// Where a Redis server listens: a TCP host and port, or a unix socket path.
public enum RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
  /// A TCP endpoint. IPv6 literals are stored without brackets.
  case tcp(host: String, port: Int)
  /// A unix domain socket.
  case unix(path: String)

  /// `host:port` (`[::1]:6390` for IPv6) or the socket path, as used in messages.
  public var description: String {
    switch self {
    case .tcp(let host, let port):
      return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    case .unix(let path):
      return path
    }
  }
}
