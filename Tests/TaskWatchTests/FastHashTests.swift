import Testing

@testable import CeleryPayload
@testable import TaskWatch

@Suite("FastHash and the payload digest (no server)")
struct FastHashTests {
  private func hash(_ bytes: [UInt8]) -> UInt64 {
    bytes.withUnsafeBytes { FastHash.hash($0) }
  }

  @Test("every byte of every length up to 80 changes the hash: no byte of the tail or of a round is skipped")
  func everyByteCounts() {
    for count in 0...80 {
      let bytes = (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
      let original = hash(bytes)
      for position in 0..<count {
        var changed = bytes
        changed[position] ^= 0x01
        #expect(hash(changed) != original, "length \(count), byte \(position)")
      }
    }
  }

  @Test("the length is mixed in: runs of zero bytes of different lengths hash apart")
  func lengthCounts() {
    let hashes = Set((0...64).map { hash([UInt8](repeating: 0, count: $0)) })
    #expect(hashes.count == 65)
  }

  @Test("the digest of a payload is stable in a process and never 0 (0 means no payload)")
  func digest() {
    let payload = Array(#"{"status": "SUCCESS", "result": 6, "task_id": "x"}"#.utf8)
    #expect(ResultMessage.digest(of: payload) == ResultMessage.digest(of: Array(payload)))
    #expect(ResultMessage.digest(of: payload) != 0)
    #expect(ResultMessage.digest(of: []) != 0)
  }

  @Test("readiness follows the name, built-in or not")
  func readiness() {
    #expect(TaskState("SUCCESS").isReady && !TaskState("SUCCESS").isFailure)
    #expect(TaskState("FAILURE").isFailure && TaskState("REVOKED").isFailure)
    #expect(TaskState("SUCCESS") == .success && TaskState("FAILURE").hashValue == TaskState.failure.hashValue)
    for name in ["PENDING", "STARTED", "PROGRESS", "RETRY", "RECEIVED", "success", "SUCCESSX", ""] {
      #expect(!TaskState(name).isReady, "\(name)")
    }
  }
}
