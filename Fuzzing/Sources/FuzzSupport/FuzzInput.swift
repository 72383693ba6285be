/// The bytes libFuzzer hands a target, with the few ways the targets cut them.
public struct FuzzInput {
  /// Every byte of the input.
  public let bytes: [UInt8]

  /// Copies the input libFuzzer passed.
  public init(_ data: UnsafePointer<UInt8>, _ size: Int) {
    bytes = Array(UnsafeBufferPointer(start: data, count: size))
  }

  /// The input cut at every `separator` byte, at most `maximum` pieces (the
  /// last one keeps the rest, separators included).
  public func fields(separatedBy separator: UInt8, maximum: Int) -> [ArraySlice<UInt8>] {
    bytes.split(separator: separator, maxSplits: maximum - 1, omittingEmptySubsequences: false)
  }

  /// Up to `count` cut points in `0...bytes.count`, ascending, chosen by a
  /// generator seeded from the input itself: the same input always splits the
  /// same way, so a crash reproduces from its file alone.
  public func cutPoints(count: Int) -> [Int] {
    guard !bytes.isEmpty else { return [] }
    var state: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes { state = (state ^ UInt64(byte)) &* 0x100_0000_01b3 }
    var points: [Int] = []
    for _ in 0..<count {
      // splitmix64
      state &+= 0x9e37_79b9_7f4a_7c15
      var mixed = state
      mixed = (mixed ^ (mixed >> 30)) &* 0xbf58_476d_1ce4_e5b9
      mixed = (mixed ^ (mixed >> 27)) &* 0x94d0_49bb_1331_11eb
      mixed ^= mixed >> 31
      points.append(Int(mixed % UInt64(bytes.count + 1)))
    }
    return points.sorted()
  }
}

/// Stops the run with a message libFuzzer records next to the crashing input.
public func oracleFailure(_ message: String, file: StaticString = #file, line: UInt = #line) -> Never {
  fatalError("oracle: " + message, file: file, line: line)
}
