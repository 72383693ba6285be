extension Duration {
  /// The duration in seconds, as the consumer's `Double` settings count them.
  package var seconds: Double {
    let (seconds, attoseconds) = components
    return Double(seconds) + Double(attoseconds) / 1e18
  }
}

extension Deadline {
  /// A deadline `duration` from now (a negative one has already passed).
  package static func after(_ duration: Duration) -> Deadline {
    .after(seconds: duration.seconds)
  }
}
