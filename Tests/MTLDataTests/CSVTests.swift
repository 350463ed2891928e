// CSV reading: the dialect, and every error with its exact rendering.

import MTLData
import Testing

@Suite struct CSVDialect {
  @Test func quotedFieldsHoldDelimitersNewlinesAndQuotes() throws {
    let t = try table("a,b,c\n\"x, y\",\"line1\nline2\",\"say \"\"hi\"\"\"\n1,\"\",3\n")
    #expect(t.header == ["a", "b", "c"])
    #expect(t.rowCount == 2)
    #expect(t.cell(row: 0, column: 0) == "x, y")
    #expect(t.cell(row: 0, column: 1) == "line1\nline2")
    #expect(t.cell(row: 0, column: 2) == "say \"hi\"")
    #expect(t.cell(row: 1, column: 1) == "")
    // Row 2 starts on line 4: the quoted newline moved it down.
    #expect(t.line(ofRow: 0) == 2)
    #expect(t.line(ofRow: 1) == 4)
  }

  @Test func lineEndsMayBeMixedAndBlankLinesAreSkipped() throws {
    let t = try table("a,b\r\n1,2\n3,4\r5,6\r\n\r\n7,\"8\r\n9\"\n\n")
    #expect(t.rowCount == 4)
    #expect(try t.column(named: "a").values == ["1", "3", "5", "7"])
    #expect(try t.column(named: "b").values == ["2", "4", "6", "8\r\n9"])
    #expect((0..<4).map(t.line(ofRow:)) == [2, 3, 4, 6])
  }

  @Test func byteOrderMarkIsSkipped() throws {
    let path = try fixture("bom.csv", [0xEF, 0xBB, 0xBF] + Array("age,name\n1,x\n".utf8))
    let t = try RawTable.read(path)
    #expect(t.header == ["age", "name"])
    #expect(t.path == path)
  }

  @Test func spacesAroundCellsAreTrimmedButNotInsideQuotes() throws {
    let t = try table(" a , b ,c\n  1 ,  \" x \"  ,\t2\t\n")
    #expect(t.header == ["a", "b", "c"])
    #expect(t.cell(row: 0, column: 0) == "1")
    #expect(t.cell(row: 0, column: 1) == " x ")
    #expect(t.cell(row: 0, column: 2) == "\t2\t")  // only spaces are trimmed
  }

  @Test func otherDelimitersAndTrailingEmptyFields() throws {
    let t = try table("a;b;c\n1;;\n\"p;q\";2;3", delimiter: ";")
    #expect(t.rowCount == 2)
    #expect(t.cell(row: 0, column: 1) == "")
    #expect(t.cell(row: 0, column: 2) == "")
    #expect(t.cell(row: 1, column: 0) == "p;q")
    #expect(t.cell(row: 1, column: 2) == "3")  // no line end at the end of the file
  }

  @Test func aQuoteInsideAnUnquotedFieldIsLiteral() throws {
    let t = try table("a,b\n5'11\",x\n")
    #expect(t.cell(row: 0, column: 0) == "5'11\"")
  }

  @Test func utf8CellsAreKept() throws {
    let t = try table("name,city\nJosé,Zürich\n")
    #expect(t.cell(row: 0, column: 0) == "José")
    #expect(try t.column(named: "city")[0] == "Zürich")
  }
}

@Suite struct CSVErrors {
  @Test func unreadableFile() {
    expectDataError("/nonexistent/x.csv: error: cannot read the file: No such file or directory") {
      _ = try RawTable.read("/nonexistent/x.csv")
    }
  }

  @Test func emptyFile() {
    expectDataError("t.csv: error: the file is empty") { _ = try table("") }
    expectDataError("t.csv: error: the file is empty") { _ = try table("\n\r\n") }
  }

  @Test func headerOnly() {
    expectDataError("t.csv: error: the file has a header but no data rows") {
      _ = try table("a,b\n")
    }
  }

  @Test func raggedRow() {
    expectDataError("t.csv:3: error: expected 3 fields, got 2") {
      _ = try table("a,b,c\n1,2,3\n4,5\n")
    }
    expectDataError("t.csv:2: error: expected 2 fields, got 3") { _ = try table("a,b\n1,2,\n") }
  }

  @Test func unbalancedQuote() {
    expectDataError(
      "t.csv:3: error: column `b`: unterminated quoted field: the quote opened on line 3 is never closed"
    ) { _ = try table("a,b\n1,2\n3,\"x\n4,5\n") }
  }

  @Test func textAfterClosingQuote() {
    expectDataError(
      "t.csv:2: error: column `a`: unexpected `y` after the closing quote of a quoted field"
    ) {
      _ = try table("a,b\n\"x\"y,2\n")
    }
  }

  @Test func invalidUTF8() {
    expectDataError("t.csv:3: error: column `b`: invalid UTF-8 at byte 2 of the cell") {
      _ = try RawTable.parse(
        Array("a,b\n1,2\n3,x".utf8) + [0xFF] + Array("y\n".utf8), path: "t.csv")
    }
    // An overlong encoding of "/".
    expectDataError("t.csv:1: error: header field 2: invalid UTF-8 at byte 1 of the cell") {
      _ = try RawTable.parse(
        Array("a,".utf8) + [0xC0, 0xAF] + Array("\n1,2\n".utf8), path: "t.csv")
    }
  }

  @Test func nulByte() {
    expectDataError("t.csv:3: error: column `a`: the cell contains a NUL byte") {
      _ = try RawTable.parse(
        Array("a,b\n1,2\n".utf8) + [0x33, 0x00] + Array(",4\n".utf8), path: "t.csv")
    }
  }

  @Test func duplicateHeaderNames() {
    expectDataError("t.csv:1: error: duplicate column name `a` (fields 1 and 3)") {
      _ = try table("a,b,a\n1,2,3\n")
    }
  }

  @Test func missingColumnListsSimilarNames() throws {
    let t = try table("Age,agent,x\n1,2,3\n")
    expectDataError("t.csv:1: error: no column `agnet` in the header; similar names: `agent`") {
      _ = try t.column(named: "agnet")
    }
    expectDataError("t.csv:1: error: no column `age` in the header; similar names: `Age`") {
      _ = try t.column(named: "age")
    }
    expectDataError("t.csv:1: error: no column `zzz` in the header") {
      _ = try t.column(named: "zzz")
    }
    let p = pipeline(dense: [dense("agee")])
    expectDataError(
      "t.csv:1: error: no column `agee` in the header (needed by dense feature `agee`); similar names: `Age`"
    ) { _ = try FittedPipeline.fit(p, table: t, rows: [0]) }
  }

  @Test func errorsAfterLeadingBlankLinesNameTheRealLines() throws {
    let t = try table("\n\n\"a\",b\n1,2\n")
    #expect(t.line(ofRow: 0) == 4)
    expectDataError("t.csv:3: error: no column `c` in the header") { _ = try t.column(named: "c") }
  }

  @Test func badDelimiter() {
    expectDataError(
      "t.csv: error: the delimiter must be one ASCII character other than a quote or a line break, not `;;`"
    ) {
      _ = try table("a\n1\n", delimiter: ";;")
    }
  }
}
