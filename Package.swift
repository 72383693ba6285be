// swift-tools-version:6.0
import PackageDescription

let package = Package(
  name: "taskwatch",
  // Linux only (no `platforms`, which can only name Apple ones): the sources
  // import Glibc, and hiredis and the compression libraries come from Debian's -dev packages.
  products: [
    .library(name: "TaskWatch", targets: ["TaskWatch"]),
    .executable(name: "taskwatch", targets: ["taskwatch"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    // `swift package generate-documentation` for the DocC catalog (scripts/test builds it).
    .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
  ],
  targets: [
    .systemLibrary(
      name: "CHiredis",
      pkgConfig: "hiredis",
      providers: [.apt(["libhiredis-dev"])]
    ),
    // OpenSSL's headers (libssl-dev) at build time; the library itself is
    // loaded with dlopen on first TLS use (see Sources/COpenSSL/include).
    .target(name: "COpenSSL"),
    .systemLibrary(
      name: "CZlib",
      pkgConfig: "zlib",
      providers: [.apt(["zlib1g-dev"])]
    ),
    // The other compressions kombu offers for Celery 5.7's result_compression.
    // Debian's libbz2-dev has no pkg-config file.
    .systemLibrary(name: "CBzip2", providers: [.apt(["libbz2-dev"])]),
    .systemLibrary(name: "CLzma", pkgConfig: "liblzma", providers: [.apt(["liblzma-dev"])]),
    .systemLibrary(name: "CBrotli", pkgConfig: "libbrotlidec", providers: [.apt(["libbrotli-dev"])]),
    .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
    // Gives the Swift runtime argv without /proc (see Sources/CCommandLine).
    .target(name: "CCommandLine"),
    .target(
      name: "TaskWatch",
      dependencies: ["CHiredis", "COpenSSL", "CZlib", "CBzip2", "CLzma", "CBrotli", "CZstd"]
    ),
    .executableTarget(
      name: "taskwatch",
      dependencies: [
        "TaskWatch",
        "CCommandLine",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    .target(
      name: "TestSupport",
      dependencies: ["TaskWatch"],
      path: "Tests/TestSupport"
    ),
    .testTarget(
      name: "TaskWatchTests",
      dependencies: ["TaskWatch", "TestSupport", "CZlib"]
    ),
    .testTarget(
      name: "taskwatchTests",
      dependencies: ["taskwatch", "TaskWatch", "TestSupport"]
    ),
  ],
  swiftLanguageModes: [.v6]
)
