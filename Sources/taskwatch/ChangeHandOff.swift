import TaskWatch

extension Array where Element == StateChange {
  /// Calls `body` with each change in order, swapped out of the array into
  /// a local first rather than borrowed from the array.
  ///
  /// A change borrowed from an array element and handed to code the
  /// optimizer cannot see into (a getter of another module, `write(2)`) is
  /// copied first, in case that code changes the array: ~350 instructions a
  /// message at S4, the copy and its release (callgrind). A local cannot
  /// change under it. Each change is swapped with the one before it (the
  /// first with a placeholder), so the array still holds, and frees, all
  /// but the last, which the local frees.
  @inline(__always)
  mutating func handOut(_ body: (borrowing StateChange) -> Void) {
    guard !isEmpty else { return }
    var current = StateChange(
      taskID: "", state: .pending, previous: nil, source: .message,
      observedAt: WallClockTime(seconds: 0, nanoseconds: 0), meta: nil)
    for index in indices {
      swap(&current, &self[index])
      body(current)
    }
  }
}
