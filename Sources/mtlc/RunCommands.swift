import ArgumentParser

/// Commands that train and use models (issue 3 fills these in).
let runtimeCommands: [ParsableCommand.Type] = []
