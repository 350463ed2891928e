import MTLIR
import MTLSpec

/// Merges expert groups that read the same input with the same layer widths and activation into
/// one group, so that their first layers become one wide matrix product ([B,I] x [I, E·O]) and the
/// whole stack runs as one op per layer. Gates then mix slices of the merged group.
///
///     %experts.income  = experts count=8 units=[64,64] (%features)
///     %experts.marital = experts count=8 units=[64,64] (%features)     ->  %experts.income+marital+shared =
///     %experts.shared  = experts count=4 units=[64,64] (%features)           experts count=20 units=[64,64] (%features)
///     %gates.income = gate ... mix(%experts.income[0..<8], %experts.shared[0..<4])
///                                                  ->  mix(%experts.income+marital+shared[0..<8], ...[16..<20])
///
/// Only groups that no block reads directly (all their readers are gates) are merged; the merged
/// group takes the place of the first of them. The model computed is the same function.
public struct MergeParallelExperts: Pass {
  public let name = "merge-parallel-experts"
  public init() {}

  struct Key: Hashable {
    var inputs: [BlockRef]
    var units: [Int]
    var activation: String
    /// Groups with different dropout rates or normalisation run as different ops.
    var dropout: Double
    var batchNorm: Bool
  }

  public func run(_ m: inout IRModule) -> Bool {
    let readDirectly = Set(m.blocks.flatMap(\.inputs))
    var families: [Key: [Int]] = [:]
    var order: [Key] = []
    for (i, b) in m.blocks.enumerated() {
      guard case .experts(_, let units, let act) = b.kind, !readDirectly.contains(b.ref) else { continue }
      let key = Key(
        inputs: b.inputs, units: units, activation: act.rawValue, dropout: b.dropout, batchNorm: b.batchNorm)
      if families[key] == nil { order.append(key) }
      families[key, default: []].append(i)
    }
    var changed = false
    for key in order {
      guard let members = families[key], members.count > 1 else { continue }
      let groups = members.map { m.blocks[$0] }
      let merged = groups.map(\.name).joined(separator: "+")
      var offset: [String: Int] = [:]
      var total = 0
      for g in groups {
        offset[g.name] = total
        total += g.outExperts
      }
      // The merged block replaces the first member; the others go.
      var first = groups[0]
      first.name = merged
      first.kind = .experts(count: total, units: key.units, activation: groups[0].kindActivation)
      first.outExperts = total
      first.origin = groups.flatMap(\.origin)
      m.blocks[members[0]] = first
      for i in members.dropFirst().reversed() { m.blocks.remove(at: i) }
      // Gates mix slices of the merged group; adjacent slices coalesce.
      for i in m.blocks.indices {
        guard case .gate(let mixes, let units, let act) = m.blocks[i].kind else { continue }
        var out: [ExpertSlice] = []
        for s in mixes {
          var t = s
          if let o = offset[s.group] {
            t = ExpertSlice(group: merged, start: o + s.start, count: s.count)
          }
          if let last = out.last, last.group == t.group, last.start + last.count == t.start {
            out[out.count - 1].count += t.count
          } else {
            out.append(t)
          }
        }
        m.blocks[i].kind = .gate(mixes: out, units: units, activation: act)
      }
      changed = true
    }
    return changed
  }
}

extension Block {
  /// The activation of an expert group (relu for anything else; only called on groups).
  var kindActivation: ActivationKind {
    if case .experts(_, _, let a) = kind { return a }
    return .relu
  }
}
