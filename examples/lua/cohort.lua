-- Tells the client which tenant and version answered, from what the pre filters left in
-- ctx.vars, and hides the origin's Server header. A post filter: it runs on every answer,
-- proxied or made at the edge.
return {
  type = "post",
  order = 50,
  run = function(ctx)
    if ctx.vars.tenant then
      ctx.response.set_header("X-Tenant", ctx.vars.tenant)
    end
    if ctx.variant then
      ctx.response.set_header("X-Served-By", ctx.variant)
    end
    ctx.response.remove_header("Server")
    if ctx.response.status >= 500 then
      log.warn("upstream error on", ctx.request.path, "route", ctx.route_id or "none")
    end
  end
}
