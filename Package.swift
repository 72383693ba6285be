// swift-tools-version:6.0
import PackageDescription

let package = Package(
  name: "taskwatch",
  platforms: [.macOS(.v13)],
  products: [
    .library(name: "TaskWatch", targets: ["TaskWatch"]),
    .executable(name: "taskwatch", targets: ["taskwatch"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2")
  ],
  targets: [
    .systemLibrary(
      name: "CHiredis",
      pkgConfig: "hiredis",
      providers: [.apt(["libhiredis-dev"])]
    ),
    .target(
      name: "TaskWatch",
      dependencies: ["CHiredis"]
    ),
    .executableTarget(
      name: "taskwatch",
      dependencies: [
        "TaskWatch",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    .testTarget(
      name: "TaskWatchTests",
      dependencies: ["TaskWatch", "CHiredis"]
    ),
    .testTarget(
      name: "taskwatchTests",
      dependencies: ["taskwatch", "TaskWatch"]
    ),
  ],
  swiftLanguageModes: [.v6]
)
