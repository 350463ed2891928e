import MTLIR

/// A compiler pass: a name and a rewrite of the IR that says whether it changed anything.
/// The pipeline is `Passes.default`, read top to bottom. `mtlc compile --print-ir-after NAME`
/// prints the IR after a pass; the verifier runs after every pass when `verify` is on.
public protocol Pass: Sendable {
  var name: String { get }
  func run(_ module: inout IRModule) -> Bool
}

public enum Passes {
  /// The pass pipeline, in order.
  public static let `default`: [any Pass] = [
    DropUnusedBlocks(),
    MergeParallelExperts(),
    OrderTasks(),
  ]

  public struct Trace {
    public var name: String
    public var changed: Bool
    public var ir: String
  }

  public struct VerifyError: Error, CustomStringConvertible {
    public var pass: String
    public var problems: [String]
    public var description: String { "IR invalid after pass `\(pass)`: " + problems.joined(separator: "; ") }
  }

  /// Runs `passes` over `module`; returns the trace of each (with its IR text when `dump`).
  public static func run(
    _ passes: [any Pass] = Passes.default, on module: inout IRModule, verify: Bool = true, dump: Bool = false
  ) throws -> [Trace] {
    var trace: [Trace] = []
    for p in passes {
      let changed = p.run(&module)
      if verify {
        let problems = IRVerifier.verify(module)
        if !problems.isEmpty { throw VerifyError(pass: p.name, problems: problems) }
      }
      trace.append(Trace(name: p.name, changed: changed, ir: dump ? IRPrinter.print(module) : ""))
    }
    return trace
  }
}

/// Removes blocks that no task reaches (the validator has already warned about each).
public struct DropUnusedBlocks: Pass {
  public let name = "drop-unused-blocks"
  public init() {}
  public func run(_ m: inout IRModule) -> Bool {
    var used = Set<BlockRef>()
    var work: [BlockRef] = m.tasks.compactMap {
      if case .tower(let n) = $0.source { return .tower(n) } else { return nil }
    }
    while let r = work.popLast() {
      guard used.insert(r).inserted, let b = m.block(r) else { continue }
      work += b.dependencies
    }
    let before = m.blocks.count
    m.blocks.removeAll { !used.contains($0.ref) }
    return m.blocks.count != before
  }
}

/// Orders tasks so that every product task comes after the tasks it multiplies (stable otherwise).
public struct OrderTasks: Pass {
  public let name = "order-tasks"
  public init() {}
  public func run(_ m: inout IRModule) -> Bool {
    var placed = Set<String>()
    var out: [TaskIR] = []
    var rest = m.tasks
    while !rest.isEmpty {
      guard
        let i = rest.firstIndex(where: { t in
          if case .product(let ms) = t.source { return ms.allSatisfy(placed.contains) }
          return true
        })
      else { break }  // a cycle; the validator rejects these
      placed.insert(rest[i].name)
      out.append(rest.remove(at: i))
    }
    out += rest
    let changed = out.map(\.name) != m.tasks.map(\.name)
    m.tasks = out
    return changed
  }
}
