//! `GET /api/v1/openapi.json`: an OpenAPI 3.1 document made from the route table, so it lists
//! exactly the routes the middleware enforces, each with the permission it needs
//! (`x-signet-permission`).

use serde_json::{Map, Value, json};

use crate::route_table::{Access, ROUTES};

/// The document. Path parameters are declared as strings.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in ROUTES {
        let item = paths
            .entry(route.path.to_string())
            .or_insert_with(|| json!({}));
        let params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let (permission, security) = match route.access {
            Access::Open => (Value::Null, json!([])),
            Access::Role(p) => (json!(p.as_str()), json!([{"bearer": []}, {"session": []}])),
            Access::SelfOr(p) => (
                json!(format!(
                    "{} (or the administrator named in the path)",
                    p.as_str()
                )),
                json!([{"bearer": []}, {"session": []}]),
            ),
        };
        let mut op = json!({
            "summary": route.summary,
            "operationId": format!("{} {}", route.method, route.path),
            "security": security,
            "responses": {
                "200": {"description": "Done"},
                "default": {
                    "description": "An error",
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
                }
            }
        });
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if !permission.is_null() {
            op["x-signet-permission"] = permission;
        }
        if let Some(obj) = item.as_object_mut() {
            obj.insert(route.method.to_lowercase(), op);
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Signet admin API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The admin REST API of a Signet member. Every operation lists the permission it needs in x-signet-permission; the roles holding each permission are in docs/administrators.md."
        },
        "paths": Value::Object(paths),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "An API token (the CLI's, in cli.json)"},
                "session": {"type": "apiKey", "in": "cookie", "name": crate::session::SESSION_COOKIE,
                    "description": "A console session from POST /api/v1/session; state-changing requests also need header x-csrf-token"}
            },
            "schemas": {
                "Problem": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string"}, "title": {"type": "string"},
                        "status": {"type": "integer"}, "detail": {"type": "string"}
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_an_operation() {
        let doc = document();
        let ops: usize = doc["paths"]
            .as_object()
            .map(|p| {
                p.values()
                    .filter_map(Value::as_object)
                    .map(|o| o.len())
                    .sum()
            })
            .unwrap_or(0);
        assert_eq!(ops, ROUTES.len());
        assert_eq!(
            doc["paths"]["/api/v1/administrators"]["post"]["x-signet-permission"],
            "manage-administrators"
        );
    }
}
