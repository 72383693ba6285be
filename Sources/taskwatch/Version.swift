/// The version of taskwatch: the one place it is written. `--version` prints
/// it, and the packaging scripts read this line.
enum TaskwatchVersion {
  /// The released version, `major.minor.patch`.
  static let current = "0.1.0"

  /// What `--version` prints: `taskwatch 0.1.0`.
  static var banner: String { "taskwatch \(current)" }
}
