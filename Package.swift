// swift-tools-version:6.0
import PackageDescription

// Linux only (Debian bookworm with Swift 6, as the README says): the sources
// import Glibc, so no Apple platform is claimed.
let package = Package(
  name: "taskwatch",
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
    // No pkgConfig: hiredis.pc's -D_FILE_OFFSET_BITS=64 made every build of a
    // dependent package warn "prohibited flag(s)". Debian's headers are under
    // /usr/include/hiredis (shim.h includes <hiredis/hiredis.h>) and the
    // library is on the default path, so the modulemap's `link "hiredis"` is
    // all it takes; `providers` still names the apt package.
    .systemLibrary(
      name: "CHiredis",
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
    // The layers, each a target so the compiler checks the arrows:
    // RedisWire (the only importer of hiredis and OpenSSL) and CeleryPayload
    // (Celery's payload rules: no Redis, no C; its decompressors are in
    // Decompression) under TaskWatch, the consumer library.
    .target(
      name: "RedisWire",
      dependencies: ["CHiredis", "COpenSSL"]
    ),
    .target(
      name: "Decompression",
      dependencies: ["CZlib", "CBzip2", "CLzma", "CBrotli", "CZstd"]
    ),
    .target(
      name: "CeleryPayload",
      dependencies: ["Decompression"]
    ),
    .target(
      name: "TaskWatch",
      dependencies: ["RedisWire", "CeleryPayload"]
    ),
    .executableTarget(
      name: "taskwatch",
      dependencies: [
        "TaskWatch",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]
    ),
    .target(
      name: "TestSupport",
      dependencies: ["TaskWatch", "RedisWire", "CeleryPayload"],
      path: "Tests/TestSupport"
    ),
    .testTarget(
      name: "TaskWatchTests",
      dependencies: ["TaskWatch", "RedisWire", "CeleryPayload", "Decompression", "TestSupport", "CZlib"]
    ),
    .testTarget(
      name: "taskwatchTests",
      dependencies: ["taskwatch", "TaskWatch", "RedisWire", "CeleryPayload", "TestSupport"]
    ),
  ],
  swiftLanguageModes: [.v6]
)
