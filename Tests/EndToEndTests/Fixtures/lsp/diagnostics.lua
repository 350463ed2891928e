-- Neovim's built-in LSP client against `mtlc lsp`: open SPEC, wait for its diagnostics, write them
-- to OUT as JSON, quit. Run headless: MTLC=... SPEC=... OUT=... nvim --headless -u NONE -i NONE -n -c 'luafile THIS'
local mtlc, spec, out = os.getenv("MTLC"), os.getenv("SPEC"), os.getenv("OUT")
vim.cmd("edit " .. vim.fn.fnameescape(spec))
local buf = vim.api.nvim_get_current_buf()
local id = vim.lsp.start_client({
  name = "mtlc",
  cmd = { mtlc, "lsp" },
  root_dir = vim.fn.fnamemodify(spec, ":h"),
})
vim.lsp.buf_attach_client(buf, id)
local got = vim.wait(30000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
local list = {}
for _, d in ipairs(vim.diagnostic.get(buf)) do
  local code = d.code
  if code == nil and d.user_data and d.user_data.lsp then code = d.user_data.lsp.code end
  table.insert(list, {
    lnum = d.lnum, col = d.col, message = d.message, code = code, severity = d.severity, source = d.source,
  })
end
local f = io.open(out, "w")
f:write(vim.fn.json_encode({ got = got, client = vim.lsp.get_client_by_id(id) ~= nil, diagnostics = list }))
f:close()
vim.lsp.stop_client(id)
vim.cmd("qa!")
