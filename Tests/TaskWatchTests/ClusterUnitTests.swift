import Testing

@testable import RedisWire

/// Redis Cluster pieces that need no server: the slot function, the URL
/// form and the topology replies.
@Suite("ClusterUnit")
struct ClusterUnitTests {
  @Test(
    "slots match redis-cli's CLUSTER KEYSLOT (Redis 7.0), hash tags honoured",
    arguments: [
      ("foo", 12182), ("bar", 5061), ("hello", 866), ("123456789", 12739), ("", 0),
      ("{user1000}.following", 3443), ("{user1000}.followers", 3443), ("user1000", 3443),
      // An empty tag does not count: the whole key is hashed.
      ("foo{}{bar}", 8363), ("{}foo", 9500),
      // Only the first '{' and the first '}' after it.
      ("foo{{bar}}zap", 4015), ("foo{bar}{zap}", 5061),
      ("celery-task-meta-d0f5b1c6-5e1a-4c3a-9e7b-0f6c3a1b2c3d", 11399),
    ])
  func keySlot(key: String, slot: Int) {
    #expect(ClusterSlot.of(Array(key.utf8)) == slot)
    // As a prefix and a suffix (the in-place path without `{`), split anywhere.
    let bytes = Array(key.utf8)
    for split in 0...bytes.count {
      let suffix = String(decoding: bytes[split...], as: UTF8.self)
      #expect(ClusterSlot.of(Array(bytes[..<split]), suffix) == slot, "split at \(split)")
    }
  }

  @Test("CRC16-XMODEM of the standard check string is 0x31C3")
  func checkValue() {
    #expect(ClusterSlot.crc16(Array("123456789".utf8)) == 0x31C3)
  }

  @Test("a Celery key's slot is the slot of prefix and id joined")
  func prefixAndID() {
    let id = "d0f5b1c6-5e1a-4c3a-9e7b-0f6c3a1b2c3d"
    #expect(ClusterSlot.of(Array("celery-task-meta-".utf8), id) == ClusterSlot.of(Array("celery-task-meta-\(id)".utf8)))
  }

  @Test(
    "cluster URLs: seed list, credentials for every node, TLS as for rediss://",
    arguments: [
      (
        "redis+cluster://127.0.0.1:7000,127.0.0.1:7001",
        BackendURL(
          endpoint: .tcp(host: "127.0.0.1", port: 7000),
          clusterNodes: [.tcp(host: "127.0.0.1", port: 7000), .tcp(host: "127.0.0.1", port: 7001)])
      ),
      (
        "redis+cluster://alice:p%40ss@a:7000,[::1]:7001/0?socket_timeout=3",
        BackendURL(
          endpoint: .tcp(host: "a", port: 7000), username: "alice", password: "p@ss",
          clusterNodes: [.tcp(host: "a", port: 7000), .tcp(host: "::1", port: 7001)])
      ),
      (
        "rediss+cluster://:pw@h:7000?ssl_cert_reqs=none",
        BackendURL(
          endpoint: .tcp(host: "h", port: 7000), password: "pw", tls: TLSSettings(certificateRequirement: .none),
          clusterNodes: [.tcp(host: "h", port: 7000)])
      ),
    ])
  func clusterURL(text: String, expected: BackendURL) throws {
    let parsed = try BackendURL.parse(text)
    #expect(parsed == expected)
    #expect(parsed.usesCluster)
    #expect(
      try BackendURL.parse(parsed.description.replacingOccurrences(of: "***", with: "pw")).clusterNodes
        == expected.clusterNodes)
    #expect(!parsed.description.contains("p@ss") && !parsed.description.contains(":pw@"))
  }

  @Test(
    "refused cluster URLs",
    arguments: [
      ("redis+cluster://h:7000/1", "a Redis Cluster has only database 0, not 1"),
      ("redis+cluster://h:7000,,h:7001", "empty host in the cluster's node list"),
      ("redis+cluster://h:7000?ssl_cert_reqs=none", "ssl_cert_reqs needs a rediss:// URL, not redis+cluster://"),
      ("rediss+cluster://h:7000", "a TLS URL needs ssl_cert_reqs"),
      ("redis+cluster://h:x", "invalid port 'x'"),
    ])
  func refusedClusterURL(text: String, reason: String) {
    #expect {
      try BackendURL.parse(text)
    } throws: { error in
      "\(error)".contains(reason)
    }
  }

  @Test(
    "CLUSTER SHARDS: masters by slot range, replicas after them, TLS ports when asked, '?' endpoints, failed masters passed over"
  )
  func shards() throws {
    func node(
      _ port: Int, _ role: String, tlsPort: Int? = nil, endpoint: String = "127.0.0.1", health: String = "online"
    ) -> RedisReply {
      var fields: [RedisReply] = [
        .bulk(Array("id".utf8)), .bulk(Array("abc".utf8)), .bulk(Array("port".utf8)), .integer(Int64(port)),
        .bulk(Array("ip".utf8)), .bulk(Array(endpoint.utf8)), .bulk(Array("endpoint".utf8)),
        .bulk(Array(endpoint.utf8)), .bulk(Array("role".utf8)), .bulk(Array(role.utf8)),
        .bulk(Array("health".utf8)), .bulk(Array(health.utf8)),
      ]
      if let tlsPort { fields += [.bulk(Array("tls-port".utf8)), .integer(Int64(tlsPort))] }
      return .array(fields)
    }
    func shard(_ slots: [Int], _ nodes: [RedisReply]) -> RedisReply {
      .array([
        .bulk(Array("slots".utf8)), .array(slots.map { .integer(Int64($0)) }), .bulk(Array("nodes".utf8)),
        .array(nodes),
      ])
    }
    let reply = RedisReply.array([
      shard([0, 5460, 10923, 10930], [node(7001, "replica"), node(7000, "master", tlsPort: 8000)]),
      shard([5461, 10922], [node(7002, "master", endpoint: "?"), node(7003, "replica")]),
      shard([10931, 16383], [node(7004, "master"), node(7005, "master", health: "fail")]),
    ])
    let map = try #require(ClusterSlotMap.parseShards(reply, queriedHost: "10.0.0.9", tls: false))
    #expect(map.servedSlots == 16384)
    #expect(map.master(ofSlot: 0) == .tcp(host: "127.0.0.1", port: 7000))
    #expect(map.master(ofSlot: 10925) == .tcp(host: "127.0.0.1", port: 7000))
    #expect(map.master(ofSlot: 5461) == .tcp(host: "10.0.0.9", port: 7002))
    #expect(map.master(ofSlot: 16383) == .tcp(host: "127.0.0.1", port: 7004))
    #expect(map.masters.count == 3 && map.nodes.count == 5, "a failed master is neither master nor replica")
    #expect(map.nodes.suffix(2) == [.tcp(host: "127.0.0.1", port: 7001), .tcp(host: "127.0.0.1", port: 7003)])
    let secure = try #require(ClusterSlotMap.parseShards(reply, queriedHost: "h", tls: true))
    #expect(secure.master(ofSlot: 0) == .tcp(host: "127.0.0.1", port: 8000))
    #expect(ClusterSlotMap.parseShards(.array([.integer(1)]), queriedHost: "h", tls: false) == nil)
  }

  @Test("CLUSTER SLOTS (Redis 6): the first node of a range is its master; a gap stays unserved")
  func slots() throws {
    func address(_ host: String, _ port: Int) -> RedisReply {
      .array([.bulk(Array(host.utf8)), .integer(Int64(port)), .bulk(Array("id".utf8))])
    }
    let reply = RedisReply.array([
      .array([.integer(0), .integer(8000), address("127.0.0.1", 7000), address("127.0.0.1", 7001)]),
      .array([.integer(8002), .integer(16383), address("", 7002)]),
    ])
    let map = try #require(ClusterSlotMap.parseSlots(reply, queriedHost: "h"))
    #expect(map.master(ofSlot: 8000) == .tcp(host: "127.0.0.1", port: 7000))
    #expect(map.master(ofSlot: 8001) == nil)
    #expect(map.master(ofSlot: 9000) == .tcp(host: "h", port: 7002))
    #expect(map.servedSlots == 16383)
    #expect(
      map.nodes == [
        .tcp(host: "127.0.0.1", port: 7000), .tcp(host: "h", port: 7002), .tcp(host: "127.0.0.1", port: 7001),
      ])
  }
}
