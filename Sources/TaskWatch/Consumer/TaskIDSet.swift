import Glibc

/// Task ids, each once, in the order first inserted, kept compactly and
/// looked up by their UTF-8 bytes in O(1).
///
/// Ids in the form Celery gives them (`uuid4()`: 36 characters, lowercase
/// hex in groups of 8-4-4-4-12) are kept as their 16 bytes; any other id is
/// kept in one contiguous arena of bytes. At 1,000,000 uuids that is 16 MB
/// of ids and 8 MB of index (24 bytes per id), where an array of `String`s
/// took ~96 bytes per id (a 36-byte native string is a 69-byte allocation,
/// 80 with malloc's header, plus the array's 16) and the `Set<String>` that
/// deduplicated them another ~32.
///
/// The index is an open-addressing table (linear probing, at most half
/// full) whose slots hold an id's position + 1. A channel name read from the
/// socket is looked up straight from its bytes: no `String` per message.
/// Ids are compared as bytes, as Redis compares channel and key names.
package struct TaskIDSet: RandomAccessCollection, Sendable {
  /// Per id two words: a uuid's 128 bits (first half, second half), or an
  /// arena id's offset and length.
  private var words: [UInt64] = []
  /// One bit per id: set when the id is in ``arena`` rather than a uuid.
  private var inArena: [UInt64] = []
  /// The bytes of the ids that are not uuids, one after another.
  private var arena: [UInt8] = []
  /// A power-of-two number of slots, at most half full; 0 is empty, any
  /// other value an id's position + 1.
  private var slots: [Int32] = []
  /// The number of ids.
  package private(set) var count = 0

  /// An empty set.
  package init() {}

  /// The first position.
  package var startIndex: Int { 0 }

  /// One past the last position.
  package var endIndex: Int { count }

  /// The id at `position`, as a new `String`.
  package subscript(position: Int) -> String {
    withUTF8(at: position) { String(decoding: $0, as: UTF8.self) }
  }

  /// Calls `body` with the UTF-8 bytes of the id at `position` (a uuid is
  /// formatted into a buffer on the stack: nothing is allocated).
  @inline(__always)
  package func withUTF8<Result>(at position: Int, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    let first = words[2 * position]
    let second = words[2 * position + 1]
    if isInArena(position) {
      return arena.withUnsafeBytes { arena in
        body(UnsafeRawBufferPointer(rebasing: arena[Int(first)..<Int(first + second)]))
      }
    }
    return withUnsafeTemporaryAllocation(byteCount: UUIDText.length, alignment: 8) { buffer in
      UUIDText.format(first, second, into: buffer.baseAddress!)
      return body(UnsafeRawBufferPointer(buffer))
    }
  }

  /// The id at `position` as a change carries it: a uuid's two words, or
  /// the other id as a new `String`.
  @inline(__always)
  package func identifier(at position: Int) -> TaskIdentifier {
    if isInArena(position) { return .text(self[position]) }
    return .uuid(words[2 * position], words[2 * position + 1])
  }

  /// The position of an id, if it is in the set.
  package func index(of id: String) -> Int? {
    Self.withUTF8(of: id) { index(ofUTF8: $0) }
  }

  /// The position of the id with these UTF-8 bytes, if it is in the set.
  @inline(__always)
  package func index(ofUTF8 bytes: UnsafeRawBufferPointer) -> Int? {
    find(bytes, uuid: UUIDText.parse(bytes)).position
  }

  /// The position of the id in uuid form with these 128 bits
  /// (``UUIDText/parse(_:)``'s words), if it is in the set.
  @inline(__always)
  package func index(ofUUID first: UInt64, _ second: UInt64) -> Int? {
    find(UnsafeRawBufferPointer(start: nil, count: 0), uuid: (first, second)).position
  }

  /// Adds an id unless it is in the set already.
  /// - Returns: whether it was added, and its position.
  @discardableResult
  package mutating func insert(_ id: String) -> (inserted: Bool, position: Int) {
    Self.withUTF8(of: id) { insert(utf8: $0) }
  }

  /// Adds the id with these UTF-8 bytes unless it is in the set already.
  /// - Returns: whether it was added, and its position.
  @discardableResult
  package mutating func insert(utf8 bytes: UnsafeRawBufferPointer) -> (inserted: Bool, position: Int) {
    if 2 * (count + 1) > slots.count { rebuildIndex(slotCount: Self.slotCount(for: count + 1)) }
    let uuid = UUIDText.parse(bytes)
    let (existing, slot) = find(bytes, uuid: uuid)
    if let existing { return (false, existing) }
    let position = count
    if position % 64 == 0 { inArena.append(0) }
    if let (first, second) = uuid {
      words.append(first)
      words.append(second)
    } else {
      words.append(UInt64(arena.count))
      words.append(UInt64(bytes.count))
      arena.append(contentsOf: bytes)
      inArena[position / 64] |= 1 << UInt64(position % 64)
    }
    count += 1
    slots[slot] = Int32(position + 1)
    return (true, position)
  }

  /// Reserves room for `extra` more ids (of which about as many uuids).
  package mutating func reserveCapacity(_ extra: Int) {
    words.reserveCapacity(2 * (count + extra))
    inArena.reserveCapacity((count + extra + 63) / 64)
    let wanted = Self.slotCount(for: count + extra)
    if wanted > slots.count { rebuildIndex(slotCount: wanted) }
  }

  // MARK: - The index

  @inline(__always)
  private func isInArena(_ position: Int) -> Bool {
    inArena[position / 64] & (1 << UInt64(position % 64)) != 0
  }

  /// Looks `bytes` up (`uuid`: their parse, done once by the caller): the
  /// id's position if found, else the empty slot where it would go (-1
  /// while there are no slots).
  @inline(__always)
  private func find(_ bytes: UnsafeRawBufferPointer, uuid: (UInt64, UInt64)?) -> (position: Int?, slot: Int) {
    guard !slots.isEmpty else { return (nil, -1) }
    let mask = slots.count - 1
    if let (first, second) = uuid {
      var slot = Self.hash(first, second) & mask
      while true {
        let entry = slots[slot]
        if entry == 0 { return (nil, slot) }
        let position = Int(entry) - 1
        if words[2 * position] == first && words[2 * position + 1] == second && !isInArena(position) {
          return (position, slot)
        }
        slot = (slot + 1) & mask
      }
    }
    var slot = Self.hash(bytes) & mask
    while true {
      let entry = slots[slot]
      if entry == 0 { return (nil, slot) }
      let position = Int(entry) - 1
      if isInArena(position) && arenaEquals(position, bytes) { return (position, slot) }
      slot = (slot + 1) & mask
    }
  }

  private func arenaEquals(_ position: Int, _ bytes: UnsafeRawBufferPointer) -> Bool {
    let offset = Int(words[2 * position])
    guard Int(words[2 * position + 1]) == bytes.count else { return false }
    guard let base = bytes.baseAddress else { return true }
    return arena.withUnsafeBytes { memcmp($0.baseAddress! + offset, base, bytes.count) == 0 }
  }

  private static func slotCount(for count: Int) -> Int {
    var slots = 16
    while slots < 2 * count { slots *= 2 }
    return slots
  }

  private mutating func rebuildIndex(slotCount: Int) {
    slots = Array(repeating: 0, count: slotCount)
    let mask = slotCount - 1
    for position in 0..<count {
      var slot =
        isInArena(position)
        ? withUTF8(at: position) { Self.hash($0) } : Self.hash(words[2 * position], words[2 * position + 1])
      slot &= mask
      while slots[slot] != 0 { slot = (slot + 1) & mask }
      slots[slot] = Int32(position + 1)
    }
  }

  // MARK: - Hashing

  /// Seeded per process, so which ids collide cannot be chosen in advance.
  private static let seed = UInt64.random(in: .min ... .max)

  /// The multiply-fold of wyhash: the halves of the 128-bit product, xored.
  @inline(__always)
  private static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
    let product = a.multipliedFullWidth(by: b)
    return product.high ^ product.low
  }

  /// A uuid's slot hash: its 128 bits folded twice (uuids from `uuid1()`
  /// share most of their bits, so the bits are mixed, not just taken).
  @inline(__always)
  private static func hash(_ first: UInt64, _ second: UInt64) -> Int {
    Int(truncatingIfNeeded: mix(mix(first ^ seed, 0xa076_1d64_78bd_642f) ^ second, 0xe703_7ed1_a0b4_28db))
  }

  /// Any other id's slot hash.
  private static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
    Int(truncatingIfNeeded: FastHash.hash(bytes))
  }

  private static func withUTF8<Result>(of text: String, _ body: (UnsafeRawBufferPointer) -> Result) -> Result {
    if let result = text.utf8.withContiguousStorageIfAvailable({ body(UnsafeRawBufferPointer($0)) }) {
      return result
    }
    return Array(text.utf8).withUnsafeBytes(body)
  }
}

/// The text form of a uuid as Python's `str(uuid.uuid4())` writes it:
/// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`, lowercase hex.
enum UUIDText {
  /// The length of the text.
  static let length = 36

  /// The uuid's 128 bits as two words (the first 16 hex digits, the last
  /// 16), or `nil` when `bytes` are not a uuid in this form (uppercase hex
  /// is not: formatting it back would not give the same channel name).
  ///
  /// Eight digits at a time (``hexValue(_:)``), read as words around the
  /// hyphens: a byte at a time, branch-free, it cost ~830 instructions a
  /// message at S4 (callgrind, profile.py at 20,000 tasks); the loop before
  /// that, which skipped the hyphens and returned at the first bad byte,
  /// ~1,000.
  @inline(__always)
  static func parse(_ bytes: UnsafeRawBufferPointer) -> (UInt64, UInt64)? {
    guard bytes.count == length, let base = bytes.baseAddress else { return nil }
    let hyphens =
      UInt32(base.load(fromByteOffset: 8, as: UInt8.self)) | UInt32(base.load(fromByteOffset: 13, as: UInt8.self)) << 8
      | UInt32(base.load(fromByteOffset: 18, as: UInt8.self)) << 16
      | UInt32(base.load(fromByteOffset: 23, as: UInt8.self)) << 24
    guard hyphens == 0x2D2D_2D2D else { return nil }
    @inline(__always) func word(_ offset: Int) -> UInt64 {
      UInt64(littleEndian: base.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }
    @inline(__always) func halves(_ first: Int, _ second: Int) -> UInt64 {
      UInt64(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: first, as: UInt32.self)))
        | UInt64(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: second, as: UInt32.self))) << 32
    }
    // 8-4-4-4-12: the middle groups are read as halves of a word.
    guard let digits0 = hexValue(word(0)), let digits1 = hexValue(halves(9, 14)),
      let digits2 = hexValue(halves(19, 24)), let digits3 = hexValue(word(28))
    else { return nil }
    return (UInt64(digits0) << 32 | UInt64(digits1), UInt64(digits2) << 32 | UInt64(digits3))
  }

  /// The value of 8 lowercase hex digits held as the bytes of a word in
  /// memory order (byte 0 is the first, most significant, digit), or `nil`
  /// when any byte is not `0`…`9` or `a`…`f`. The inverse of ``hexDigits(_:)``.
  @inline(__always)
  static func hexValue(_ text: UInt64) -> UInt32? {
    let ones: UInt64 = 0x0101_0101_0101_0101
    let highBits: UInt64 = 0x8080_8080_8080_8080
    // With every byte below 0x80, adding 0x80 − c sets a byte's high bit
    // exactly when the byte is ≥ c, and no carry crosses into the next byte.
    @inline(__always) func atLeast(_ bound: UInt8) -> UInt64 {
      (text &+ ones &* UInt64(0x80 &- bound)) & highBits
    }
    let isDecimal = atLeast(0x30) & ~atLeast(0x3A)
    let isLowerHex = atLeast(0x61) & ~atLeast(0x67)
    guard text & highBits == 0, isDecimal | isLowerHex == highBits else { return nil }
    // '0'…'9' → 0…9, 'a'…'f' → 10…15 (bit 6 is set for the letters only).
    var nibbles = (text & 0x0F0F_0F0F_0F0F_0F0F) &+ ((text >> 6) & ones) &* 9
    // The first digit is the most significant: gather from the other end.
    nibbles = nibbles.byteSwapped
    nibbles = (nibbles | nibbles >> 4) & 0x00FF_00FF_00FF_00FF
    nibbles = (nibbles | nibbles >> 8) & 0x0000_FFFF_0000_FFFF
    return UInt32(truncatingIfNeeded: nibbles | nibbles >> 16)
  }

  /// Writes the 36 bytes of the uuid `first`, `second` to `destination`.
  ///
  /// Eight digits at a time (``hexDigits(_:)``), stored as words around the
  /// hyphens, instead of one byte store per digit ("SWAR hex"): an id's
  /// `String` went from 1,104 to 330 instructions, −387 a message at S4 and
  /// −1,490 a task in the SUBSCRIBE commands (callgrind, profile.py at
  /// 20,000 tasks, updates 1 and 3).
  @inline(__always)
  static func format(_ first: UInt64, _ second: UInt64, into destination: UnsafeMutableRawPointer) {
    let digits = (
      hexDigits(UInt32(truncatingIfNeeded: first >> 32)), hexDigits(UInt32(truncatingIfNeeded: first)),
      hexDigits(UInt32(truncatingIfNeeded: second >> 32)), hexDigits(UInt32(truncatingIfNeeded: second))
    )
    // 8-4-4-4-12: the middle groups are halves of a word of digits.
    destination.storeBytes(of: digits.0.littleEndian, toByteOffset: 0, as: UInt64.self)
    let halves = (
      UInt32(truncatingIfNeeded: digits.1).littleEndian, UInt32(truncatingIfNeeded: digits.1 >> 32).littleEndian,
      UInt32(truncatingIfNeeded: digits.2).littleEndian, UInt32(truncatingIfNeeded: digits.2 >> 32).littleEndian
    )
    destination.storeBytes(of: halves.0, toByteOffset: 9, as: UInt32.self)
    destination.storeBytes(of: halves.1, toByteOffset: 14, as: UInt32.self)
    destination.storeBytes(of: halves.2, toByteOffset: 19, as: UInt32.self)
    destination.storeBytes(of: halves.3, toByteOffset: 24, as: UInt32.self)
    destination.storeBytes(of: digits.3.littleEndian, toByteOffset: 28, as: UInt64.self)
    destination.storeBytes(of: 0x2D, toByteOffset: 8, as: UInt8.self)
    destination.storeBytes(of: 0x2D, toByteOffset: 13, as: UInt8.self)
    destination.storeBytes(of: 0x2D, toByteOffset: 18, as: UInt8.self)
    destination.storeBytes(of: 0x2D, toByteOffset: 23, as: UInt8.self)
  }

  /// The 8 lowercase hex digits of `value`, most significant first, as the
  /// bytes of a word in memory order (byte 0 is the first digit; the caller
  /// stores it little-endian).
  @inline(__always)
  static func hexDigits(_ value: UInt32) -> UInt64 {
    // Spread the nibbles one per byte: halves, then bytes, then nibbles.
    var nibbles = UInt64(value)
    nibbles = (nibbles & 0xFFFF_0000) << 16 | (nibbles & 0xFFFF)
    nibbles = (nibbles & 0x0000_FF00_0000_FF00) << 8 | (nibbles & 0x0000_00FF_0000_00FF)
    nibbles = (nibbles & 0x00F0_00F0_00F0_00F0) << 4 | (nibbles & 0x000F_000F_000F_000F)
    // The least significant nibble is in byte 0 now: text order is the reverse.
    nibbles = nibbles.byteSwapped
    // 1 in each byte whose nibble is 10…15 (no carry crosses a byte).
    let letters = ((nibbles &+ 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101
    // '0' + n, and 'a' − '0' − 10 = 0x27 more for a letter.
    return nibbles &+ 0x3030_3030_3030_3030 &+ letters &* 0x27
  }
}
