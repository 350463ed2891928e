import Foundation
import MTLGraph
import MTLSupport
import Testing

@testable import MTLTrain

/// The `--report` page: settings, one loss panel per labelled task, the architecture as the spec
/// wrote it (merged expert groups drawn separately), and one heat-map row per gate.
struct ReportPageTests {
  /// A report of `g` with a made-up history (`loss(task, epoch)`) and diagnostics of the
  /// untrained model on a few test rows.
  static func page(
    _ g: Graph, seed: UInt64 = 4242, loss: (String, Int) -> Double = { _, e in 0.7 - 0.1 * Double(e) }
  ) throws -> (html: String, input: RunReport.Input) {
    let data = try Repo.data(g)
    let s = Session(graph: g, fitted: data.fitted, seed: seed)
    let test = slice(data.test, 300)
    let history = (1...3).map { e in
      EpochReport(
        epoch: e, loss: 0, taskLoss: Dictionary(uniqueKeysWithValues: g.losses.map { ($0.task, loss($0.task, e)) }),
        seconds: 1, samplesPerSecond: 1)
    }
    let input = RunReport.Input(
      graph: s.graph, metrics: s.evaluate(test), history: history, experts: s.expertReport(test),
      command: "mtlc run specs/\(g.name).yaml", seed: seed, threads: 2, trainRows: data.train.count,
      testRows: data.test.count, finished: Date(timeIntervalSince1970: 86_400 * 365))
    return (RunReport.html(input), input)
  }

  /// The pieces of `html` between `open` and the next `close`.
  static func sections(_ html: String, _ open: String, _ close: String) -> [String] {
    html.components(separatedBy: open).dropFirst().map { $0.components(separatedBy: close)[0] }
  }

  @Test("the settings block shows the model, optimiser, batch, epochs, seed, rows, threads, version and time")
  func settings() throws {
    let g = try Repo.graph("cgc", batch: 128, epochs: 3)
    let (html, input) = try Self.page(g, seed: 4242)
    let settings = try #require(Self.sections(html, "<table class=settings>", "</table>").first)
    for (key, value) in [
      ("model", "cgc-adult"), ("optimiser", "adam, learning rate 0.001"), ("batch size", "128"),
      ("epochs", "3"), ("seed", "4242"), ("training rows", "\(input.trainRows)"), ("threads", "2"),
      ("mtlc version", MTLVersion.string), ("finished (UTC)", "1971-01-01T00:00:00Z"),
    ] {
      #expect(settings.contains("<th>\(key)</th><td>\(value)</td>"), "no \(key) = \(value) in \(settings)")
    }
    #expect(settings.contains("<th>test rows</th><td>\(input.testRows) (20% held out, split seed 2026)</td>"))
  }

  @Test("one loss chart per labelled task, each on its own axis and titled with its loss")
  func lossPanels() throws {
    // cgc with `marital` made a regression task whose loss is in the hundreds.
    var g = try Repo.graph("cgc")
    let m = try #require(g.losses.firstIndex { $0.task == "marital" })
    g.losses[m].kind = .mse
    let (html, _) = try Self.page(g) { task, e in task == "marital" ? 300 - 20 * Double(e) : 0.7 - 0.1 * Double(e) }
    let charts = Self.sections(html, "<svg class=\"loss\"", "</svg>")
    #expect(charts.count == 2)
    let income = try #require(charts.first { $0.contains(">income: log-loss</text>") })
    let marital = try #require(charts.first { $0.contains(">marital: mean squared error</text>") })
    /// The y-axis tick labels of a chart.
    func ticks(_ chart: String) -> [Double] {
      Self.sections(chart, "text-anchor=\"end\" fill=\"#555\">", "</text>").compactMap(Double.init)
    }
    #expect(ticks(income).count == 5 && ticks(income).allSatisfy { $0 > 0.3 && $0 < 0.7 }, "\(ticks(income))")
    #expect(ticks(marital).count == 5 && ticks(marital).allSatisfy { $0 > 230 && $0 < 290 }, "\(ticks(marital))")

    // ESMM: `cvr` has no label, so no chart; `ctcvr` learns through the product.
    let (esmm, _) = try Self.page(try Repo.graph("esmm"))
    let titles = Self.sections(esmm, "<svg class=\"loss\"", "</svg>").map {
      Self.sections($0, "font-weight=\"600\">", "</text>")[0]
    }
    #expect(titles == ["ctr: log-loss", "ctcvr: log-loss of the product"])
  }

  @Test("the architecture draws cgc's merged expert groups as the spec's three groups, each into its gates")
  func architecture() throws {
    let g = try Repo.graph("cgc")
    // The compiler did merge them: one stacked value of 20 experts.
    #expect(g.values.contains { $0.name == "experts.income+marital+shared" && $0.experts == 20 })
    let (nodes, edges) = Architecture.blocks(g)
    let names = nodes.map(\.id)
    #expect(names.filter { $0.hasPrefix("experts.") } == ["experts.income", "experts.marital", "experts.shared"])
    #expect(nodes.first { $0.id == "experts.income" }?.label == "experts.income\n[B,8,64]")
    #expect(nodes.first { $0.id == "experts.shared" }?.label == "experts.shared\n[B,4,64]")
    let named = Set(edges.map { "\(names[$0.0]) -> \(names[$0.1])" })
    for e in [
      "features -> experts.income", "features -> experts.marital", "features -> experts.shared",
      "experts.income -> gates.income", "experts.shared -> gates.income", "experts.marital -> gates.marital",
      "experts.shared -> gates.marital", "features -> gates.income",
    ] {
      #expect(named.contains(e), "no edge \(e) in \(named.sorted())")
    }
    #expect(!named.contains("experts.income -> gates.marital") && !named.contains("experts.marital -> gates.income"))

    // The page's picture (dot's or the built-in one) names each group, never the merged block.
    let (html, _) = try Self.page(g)
    let picture = try #require(Self.sections(html, "<div class=arch>", "</div>").first)
    for n in ["experts.income", "experts.marital", "experts.shared", "[B,8,64]", "[B,4,64]"] {
      #expect(picture.contains(n), "no \(n) in the picture")
    }
    #expect(!picture.contains("income+marital"))
    // The built-in layout has a box per node and a path per edge.
    let builtin = Architecture.builtin(nodes, edges)
    #expect(builtin.components(separatedBy: "<rect ").count - 1 == nodes.count)
    #expect(builtin.components(separatedBy: "marker-end=\"url(#arrow)\"").count - 1 == edges.count)
  }

  @Test("PLE's gates are one heat-map: a row per gate, a column per expert, blank where a gate cannot reach")
  func heatmap() throws {
    let g = try Repo.graph("ple")
    let (html, input) = try Self.page(g)
    #expect(input.experts.gates.count == 5)
    let table = try #require(Self.sections(html, "<table class=\"heat", "</table>").first)
    let rows = Self.sections(table, "<tr class=gate>", "</tr>")
    #expect(rows.count == input.experts.gates.count)
    #expect(rows.map { Self.sections($0, "<th class=l>", "</th>")[0] } == input.experts.gates.map(\.gate))
    // 8 + 8 + 4 experts at each of the two levels, grouped by spec group in graph order.
    let groups = Self.sections(table, "<th class=g colspan=", "</th>")
    #expect(groups == ["8>income_1", "8>marital_1", "4>shared_1", "8>income_2", "8>marital_2", "4>shared_2"])
    for (row, gate) in zip(rows, input.experts.gates) {
      let cells = Self.sections(row, "<td", "</td>").dropFirst()  // after the entropy
      #expect(cells.count == 40)
      #expect(cells.filter { $0.contains("na") && !$0.contains("title=") }.count == 40 - gate.experts.count)
    }
  }
}
