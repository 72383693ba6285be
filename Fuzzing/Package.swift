// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for every parser taskwatch feeds with bytes from the
// network or the user. A package of its own, so the library's manifest never
// sees `-sanitize=fuzzer`: scripts/fuzz builds it (Fuzzing/, not Fuzz/: a package's identity is its directory name, and a clone named fuzz would collide) with
// `swift build --sanitize=fuzzer --sanitize=address -Xswiftc
// -sanitize=fuzzer,address` (every target of both packages instrumented; the
// last flag because swiftc keeps only its last -sanitize=, see scripts/fuzz)
// and runs each target for N seconds.
//
// The CLI's parsers live in the executable target `taskwatch`, which no other
// package can import: the CLI fuzz targets compile the CLI's own source files
// (symbolic links to Sources/taskwatch/…), so they fuzz exactly that code.
let package = Package(
  name: "taskwatch-fuzz",
  dependencies: [
    .package(name: "taskwatch", path: ".."),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
  ],
  targets: [
    // The oracles: a strict RFC 8259 checker independent of the library's
    // scanner, and a deterministic splitter of inputs.
    .target(name: "FuzzSupport"),
    .executableTarget(
      name: "FuzzReplies", dependencies: ["FuzzSupport", .product(name: "TaskWatch", package: "taskwatch")]),
    .executableTarget(
      name: "FuzzPayload", dependencies: ["FuzzSupport", .product(name: "TaskWatch", package: "taskwatch")]),
    .executableTarget(
      name: "FuzzNDJSON", dependencies: ["FuzzSupport", .product(name: "TaskWatch", package: "taskwatch")]),
    .executableTarget(
      name: "FuzzBackendURL", dependencies: ["FuzzSupport", .product(name: "TaskWatch", package: "taskwatch")]),
    .executableTarget(
      name: "FuzzTaskIDList", dependencies: ["FuzzSupport", .product(name: "TaskWatch", package: "taskwatch")]),
    .executableTarget(
      name: "FuzzDuration",
      dependencies: ["FuzzSupport", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
  ],
  swiftLanguageModes: [.v6]
)
