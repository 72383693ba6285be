import ArgumentParser

/// One `--report` value: where a CI report of the run goes.
enum ReportRequest: ExpressibleByArgument, Equatable {
  /// JUnit XML written to this file at exit (`junit=FILE`).
  case junit(path: String)
  /// GitHub Actions: `::error` lines and the step summary (`github`).
  case github

  init?(argument: String) {
    if argument == "github" {
      self = .github
    } else if argument.hasPrefix("junit="), argument.count > "junit=".count {
      self = .junit(path: String(argument.dropFirst("junit=".count)))
    } else {
      return nil
    }
  }

  static var defaultCompletionKind: CompletionKind { .list(["github", "junit="]) }
}
