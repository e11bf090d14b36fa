-- Tags each API request with its tenant for the origin, and answers a retired endpoint at the
-- edge. Use: filters: [{ name: lua, args: { file: examples/lua/tenant.lua } }]
local retired = { ["/api/v1/export"] = true, ["/api/old"] = true }

return {
  type = "pre",
  order = 10,
  should_filter = function(ctx)
    return ctx.request.path:sub(1, 5) == "/api/"
  end,
  run = function(ctx)
    if retired[ctx.request.path] then
      return ctx.respond(410, '{"error":"this endpoint is retired"}\n',
                         { ["Content-Type"] = "application/json" })
    end
    local key = ctx.request.header("X-Api-Key")
    local tenant = key and key:match("^(%w+)%-") or "anonymous"
    ctx.request.set_header("X-Tenant", tenant)
    ctx.vars.tenant = tenant
  end
}
