import Testing

@testable import CeleryPayload
@testable import TaskWatch

@Suite("TaskIDSet and TaskStates (no server)")
struct TaskIDSetTests {
  @Test("uuids and other ids round-trip exactly, in order, each once, across index growth")
  func roundTrip() {
    var set = TaskIDSet()
    var ids = [String]()
    for number in 0..<3_000 {
      let hex = String(number, radix: 16)
      let uuid = "d4f1e7a2-0b3c-4e5f-9a8b-" + String(repeating: "0", count: 12 - hex.count) + hex
      ids += [uuid, "task-\(number)"]
    }
    // Not in the 16-byte form: uppercase hex, no hyphens, a hyphen moved, one digit short or long.
    ids += [
      "D4F1E7A2-0B3C-4E5F-9A8B-7C6D5E4F3A2B", "d4f1e7a20b3c4e5f9a8b7c6d5e4f3a2b",
      "d4f1e7a-20b3c-4e5f-9a8b-7c6d5e4f3a2b",
      "d4f1e7a2-0b3c-4e5f-9a8b-7c6d5e4f3a2", "d4f1e7a2-0b3c-4e5f-9a8b-7c6d5e4f3a2bc",
      "g4f1e7a2-0b3c-4e5f-9a8b-7c6d5e4f3a2b",
      "", "tâche-été",
    ]
    for (position, id) in ids.enumerated() {
      let (inserted, index) = set.insert(id)
      #expect(inserted && index == position, "\(id)")
    }
    #expect(set.insert("task-42") == (false, ids.firstIndex(of: "task-42")!))
    #expect(set.insert(ids[0]) == (false, 0))
    #expect(set.count == ids.count && Array(set) == ids)
    for (position, id) in ids.enumerated() {
      #expect(set.index(of: id) == position)
      #expect(Array(id.utf8).withUnsafeBytes { set.index(ofUTF8: $0) } == position)
    }
    #expect(set.index(of: "d4f1e7a2-0b3c-4e5f-9a8b-7c6d5e4f3a2b") == nil)
    #expect(set.index(of: "d4f1e7a2-0b3c-4e5f-9a8b-00000000ffff") == nil)
    #expect(TaskIDSet().index(of: "x") == nil)
  }

  @Test("every hex digit in every position formats back as it was parsed")
  func uuidDigits() {
    // Digit d at position p (0…31) is (d + p) % 16: each digit in each position over 16 ids.
    let digits = Array("0123456789abcdef")
    var set = TaskIDSet()
    var ids = [String]()
    for shift in 0..<16 {
      var text = (0..<32).map { digits[($0 + shift) % 16] }
      for hyphen in [8, 13, 18, 23] { text.insert("-", at: hyphen) }
      ids.append(String(text))
    }
    for id in ids { _ = set.insert(id) }
    #expect(Array(set) == ids)
  }

  @Test("a uuid parses eight digits at a time exactly as digit by digit, for every byte in every position")
  func uuidParsingEveryByte() {
    let base = Array("0123456789abcdef0123456789abcdef".utf8)
    // What the form means, one byte at a time: 32 lowercase hex digits around hyphens at 8, 13, 18, 23.
    func expected(_ text: [UInt8]) -> (UInt64, UInt64)? {
      guard text.count == 36, [8, 13, 18, 23].allSatisfy({ text[$0] == UInt8(ascii: "-") }) else { return nil }
      let digits = text.enumerated().filter { ![8, 13, 18, 23].contains($0.offset) }.map(\.element)
      guard digits.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else { return nil }
      let hex = String(decoding: digits, as: UTF8.self)
      return (UInt64(hex.prefix(16), radix: 16)!, UInt64(hex.suffix(16), radix: 16)!)
    }
    var text = base
    for hyphen in [8, 13, 18, 23] { text.insert(UInt8(ascii: "-"), at: hyphen) }
    var checked = 0
    for position in 0..<36 {
      for byte in UInt8.min...UInt8.max {
        var variant = text
        variant[position] = byte
        let parsed = variant.withUnsafeBytes { UUIDText.parse($0) }
        let reference = expected(variant)
        #expect(parsed?.0 == reference?.0 && parsed?.1 == reference?.1, "byte \(byte) at \(position)")
        if reference != nil { checked += 1 }
      }
    }
    // 16 digits at each of 32 positions, and the hyphen itself at its 4.
    #expect(checked == 16 * 32 + 4)
  }

  @Test("a table made from a set watches its ids, and takes more")
  func table() {
    var set = TaskIDSet()
    set.insert("9ebac6a9-b04e-40ee-b7de-d8bab69c8e87")
    set.insert("b")
    var table = TaskTable(watching: set)
    #expect(table.count == 2 && table.watchingCount == 2 && table.states[0] == nil && table.phases[1] == .watching)
    #expect(
      table.add("b") == nil && table.add("c") == 2 && table.index(of: "9ebac6a9-b04e-40ee-b7de-d8bab69c8e87") == 0)
    table.record(0, state: .success, digest: 1)
    #expect(table.watchingCount == 2 && table.states[0] == .success && table.ids[0] == set[0])
  }

  @Test("every state is kept exactly, past the palette's limit too")
  func states() {
    var states = TaskStates(count: 3)
    #expect(states[0] == nil)
    states[0] = .started
    states[1] = .started
    states[0] = .success
    #expect(states[0] == .success && states[1] == .started && states[2] == nil)
    let custom = (0..<(TaskStates.paletteLimit + 20)).map { TaskState("STEP-\($0)") }
    for state in custom { states.append(state) }
    for (offset, state) in custom.enumerated() { #expect(states[3 + offset] == state) }
    states[states.count - 1] = .failure
    #expect(states[states.count - 1] == .failure)
    states[3] = nil
    #expect(states[3] == nil)
  }
}
