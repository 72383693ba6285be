import Foundation
import TestSupport
import Testing

@testable import CeleryPayload
@testable import RedisWire
@testable import TaskWatch

/// Discovery against real `redis-sentinel` processes (one master, one replica,
/// three sentinels on free loopback ports).
@Suite("SentinelResolver against real sentinels", .serialized)
struct SentinelResolverTests {
  private func resolver(_ cluster: SentinelCluster, ports: [Int]? = nil, name: String? = nil) -> SentinelResolver {
    let sentinels = (ports ?? cluster.sentinelPorts).map { RedisEndpoint.tcp(host: "127.0.0.1", port: $0) }
    let backend = BackendURL(
      endpoint: sentinels[0], sentinels: sentinels, masterName: name ?? cluster.masterName)
    return SentinelResolver(backend: backend, connectTimeout: 2, commandTimeout: 2)
  }

  @Test("names the master; skips a sentinel that is down; an unknown name is UnknownMasterError")
  func discovery() throws {
    let cluster = try SentinelCluster()
    let down = try FreePort.pick()
    #expect(try resolver(cluster, ports: [down] + cluster.sentinelPorts).masterEndpoint() == cluster.master.endpoint)
    #expect(
      throws: UnknownMasterError(masterName: "nosuch", sentinels: cluster.sentinelPorts.map { "127.0.0.1:\($0)" })
    ) {
      try resolver(cluster, name: "nosuch").masterEndpoint()
    }
    #expect {
      try resolver(cluster, ports: [down]).masterEndpoint()
    } throws: { error in
      guard let error = error as? RedisError else { return false }
      return error.isConnectionFault && error.description.contains("no sentinel answered")
    }
  }

  @Test("ROLE: the master passes; a replica is a connection fault")
  func role() throws {
    let cluster = try SentinelCluster()
    try cluster.master.connection().requireMasterRole(until: .after(seconds: 2))
    #expect {
      try cluster.replica.connection().requireMasterRole(until: .after(seconds: 2))
    } throws: { error in
      guard let error = error as? RedisError else { return false }
      return error.isConnectionFault && error.description.contains("ROLE says 'slave'")
    }
  }
}
