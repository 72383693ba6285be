// swift-tools-version:6.0
// A small program that uses TaskWatch's async API, depending on the
// repository's package by path as an application would by URL.
import PackageDescription

let package = Package(
  name: "watch-tasks",
  dependencies: [
    .package(name: "taskwatch", path: "../..")
  ],
  targets: [
    .executableTarget(
      name: "watch-tasks",
      dependencies: [.product(name: "TaskWatch", package: "taskwatch")]
    )
  ],
  swiftLanguageModes: [.v6]
)
