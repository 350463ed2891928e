// swift-tools-version: 6.0
// mtlc — a declarative compiler for multi-task recommender models.
// Targets are listed in pipeline order: spec text -> IR -> passes -> graph -> kernels -> training.
import PackageDescription

// Hand-written SIMD kernels need AVX2/FMA to match OpenBLAS on small shapes; without it
// `addProduct` lowers to a libm call. Root-package only (unsafeFlags).
let fastMath: [SwiftSetting] = [.unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma", "-target-cpu", "haswell"])]

// LIBXSMM (Debian libxsmm-dev, static libraries) JIT-generates the small products' kernels on x86-64.
// Elsewhere CXSMM builds without it and every product goes to OpenBLAS. The manifest is compiled for
// the build host, which is the target for a native build.
#if arch(x86_64)
  let libxsmm: (c: [CSetting], link: [LinkerSetting]) = (
    [.define("MTLC_LIBXSMM")],
    [.linkedLibrary("xsmm"), .linkedLibrary("openblas"), .linkedLibrary("dl"), .linkedLibrary("rt")]
  )
#else
  let libxsmm: (c: [CSetting], link: [LinkerSetting]) = ([], [])
#endif

let package = Package(
  name: "mtlc",
  platforms: [.macOS(.v13)],
  products: [
    .executable(name: "mtlc", targets: ["mtlc"]),
    .executable(name: "mtlc-bench", targets: ["mtlc-bench"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
  ],
  targets: [
    // System libraries: module maps and nothing else.
    .systemLibrary(name: "CLibYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
    .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
    // zlib, for gzip-compressed data files (`.csv.gz`).
    .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
    // LIBXSMM's JIT small-matrix kernels behind a row-major shim (one transpose LIBXSMM lacks).
    .target(name: "CXSMM", cSettings: libxsmm.c, linkerSettings: libxsmm.link),

    // Small shared utilities: seeded RNG, atomic file writes, checksums.
    .target(name: "MTLSupport"),
    // Spans, diagnostics, the code catalog, rendering, did-you-mean.
    .target(name: "MTLDiagnostics"),
    // YAML text -> node tree with spans (libyaml event API), with hard limits.
    .target(name: "MTLYAML", dependencies: ["CLibYAML", "MTLDiagnostics"]),
    // Node tree -> typed spec AST (strict keys, types, ranges).
    .target(name: "MTLSpec", dependencies: ["MTLYAML", "MTLDiagnostics", "MTLSupport"]),
    // Spec AST -> validated, typed, shape-inferred IR; printer; verifier.
    .target(name: "MTLIR", dependencies: ["MTLSpec", "MTLDiagnostics", "MTLSupport"]),
    // The executable graph: the contract between compiler and runtime (plain Codable data).
    .target(name: "MTLGraph", dependencies: ["MTLSupport"]),
    // Passes over the IR and lowering to the executable graph; summaries, dot.
    .target(name: "MTLCompiler", dependencies: ["MTLIR", "MTLGraph", "MTLData", "MTLDiagnostics", "MTLSupport"]),
    // Forward/backward kernels over raw buffers. No IR, no graph.
    .target(name: "MTLKernels", dependencies: ["COpenBLAS", "CXSMM"], swiftSettings: fastMath),
    // `mtlc synth`: synthetic data whose truth is known (click logs, the MMoE paper's tasks).
    .target(name: "MTLSynth", dependencies: ["MTLSupport"]),
    // `mtlc init`: a starting spec from a CSV's header and a sample of its rows.
    .target(name: "MTLInit", dependencies: ["MTLData", "MTLSupport"]),
    // Open MPI loaded at run time (dlopen), so mtlc builds and runs without it.
    .target(name: "CMPIShim", linkerSettings: [.linkedLibrary("dl")]),
    // Data-parallel training across processes: the Communicator over Open MPI.
    .target(name: "MTLDistributed", dependencies: ["CMPIShim", "MTLRuntime"]),
    // `mtlc lsp`: the language server (JSON-RPC over stdio; diagnostics, hover, completion, definition).
    .target(
      name: "MTLLanguageServer",
      dependencies: ["MTLCompiler", "MTLData", "MTLDiagnostics", "MTLSpec", "MTLSupport"]),
    // CSV reading, feature pipelines, labels, splits, batching.
    .target(name: "MTLData", dependencies: ["MTLGraph", "MTLSupport", "MTLDiagnostics", "CZlib"]),
    // Executes a graph: buffer plan, forward/backward, optimisers.
    .target(name: "MTLRuntime", dependencies: ["MTLGraph", "MTLKernels", "MTLSupport"], swiftSettings: fastMath),
    // Training loop, metrics, checkpoints, predict.
    .target(name: "MTLTrain", dependencies: ["MTLRuntime", "MTLData", "MTLGraph", "MTLSupport"]),
    // ONNX export; Generated/ holds the committed swift-protobuf code for onnx-ml.proto (README).
    .target(
      name: "MTLONNX",
      dependencies: ["MTLData", "MTLGraph", .product(name: "SwiftProtobuf", package: "swift-protobuf")],
      exclude: ["README.md", "Generated/onnx-ml.proto"]),
    // The CLI, thin.
    .executableTarget(
      name: "mtlc",
      dependencies: [
        "MTLCompiler", "MTLTrain", "MTLDiagnostics", "MTLONNX", "MTLInit", "MTLSynth", "MTLLanguageServer", "MTLDistributed",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),

    // The benchmark (scripts/bench): speed, memory, allocations per step, FLOPs, BLAS rates.
    .target(name: "CMallocCounter"),
    // The machine's measured FP32 FMA peak per core (hand-written: an instruction-level loop, with
    // runtime ISA dispatch, that no library offers as such).
    .target(name: "CFMAPeak"),
    .executableTarget(
      name: "mtlc-bench",
      dependencies: [
        "MTLCompiler", "MTLTrain", "MTLRuntime", "MTLKernels", "MTLData", "MTLGraph", "CMallocCounter", "COpenBLAS",
        "CFMAPeak",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ]),

    // libFuzzer harness for the front end (scripts/fuzz builds it with -sanitize=fuzzer,address).
    .executableTarget(
      name: "mtlc-fuzz",
      dependencies: [
        "MTLCompiler", "MTLIR", "MTLGraph", "MTLDiagnostics", "MTLData", "MTLRuntime", "MTLTrain", "MTLSupport",
      ]),

    .testTarget(
      name: "MTLFrontEndTests",
      dependencies: [
        "MTLYAML", "MTLSpec", "MTLIR", "MTLCompiler", "MTLDiagnostics", "MTLGraph", "MTLData", "MTLRuntime", "MTLTrain",
        "MTLSupport",
      ],
      exclude: ["Fixtures"]),
    .testTarget(name: "MTLKernelsTests", dependencies: ["MTLKernels"]),
    .testTarget(name: "LanguageServerTests", dependencies: ["MTLLanguageServer"]),
    .testTarget(name: "MTLDataTests", dependencies: ["MTLData", "MTLGraph"]),
    .testTarget(name: "MTLRuntimeTests", dependencies: ["MTLRuntime", "MTLTrain", "MTLCompiler", "MTLKernels"]),
    .testTarget(name: "EndToEndTests", dependencies: [], exclude: ["Fixtures"]),
    // The peers' multi-task test cases (DeepCTR, DeepCTR-Torch, TorchEasyRec) re-expressed as specs.
    .testTarget(
      name: "ConformanceTests",
      dependencies: ["MTLCompiler", "MTLTrain", "MTLData", "MTLGraph", "MTLDiagnostics", "MTLSupport"],
      exclude: ["Cases"]),
    .testTarget(name: "MTLONNXTests", dependencies: ["MTLONNX", "MTLTrain", "MTLCompiler", "MTLData", "MTLGraph"]),
  ]
)
