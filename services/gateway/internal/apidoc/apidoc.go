// Package apidoc serves the merged OpenAPI document of the Rapport API and a
// human-readable reference page rendered from it (no scripts, no CDN).
package apidoc

import (
	_ "embed"
	"encoding/json"
	"html/template"
	"net/http"
	"slices"
	"strings"
)

// OpenAPI is the merged OpenAPI (Swagger 2.0) document, copied here from
// gen/openapi by `make generate`.
//
//go:embed rapport.swagger.json
var OpenAPI []byte

type document struct {
	Paths map[string]map[string]operation `json:"paths"`
}

type operation struct {
	Summary     string      `json:"summary"`
	Description string      `json:"description"`
	OperationID string      `json:"operationId"`
	Tags        []string    `json:"tags"`
	Parameters  []parameter `json:"parameters"`
}

type parameter struct {
	Name        string `json:"name"`
	In          string `json:"in"`
	Required    bool   `json:"required"`
	Type        string `json:"type"`
	Description string `json:"description"`
}

// endpoint is one row of the reference.
type endpoint struct {
	Method, Path string
	operation
}

type section struct {
	Service   string
	Endpoints []endpoint
}

// sections groups the document's operations by service, in path order.
func sections() ([]section, error) {
	var doc document
	if err := json.Unmarshal(OpenAPI, &doc); err != nil {
		return nil, err
	}
	by := map[string][]endpoint{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			tag := "Other"
			if len(op.Tags) > 0 {
				tag = op.Tags[0]
			}
			by[tag] = append(by[tag], endpoint{Method: strings.ToUpper(method), Path: path, operation: op})
		}
	}
	var out []section
	for tag, eps := range by {
		slices.SortFunc(eps, func(a, b endpoint) int { return strings.Compare(a.Path+a.Method, b.Path+b.Method) })
		out = append(out, section{Service: tag, Endpoints: eps})
	}
	slices.SortFunc(out, func(a, b section) int { return strings.Compare(a.Service, b.Service) })
	return out, nil
}

var page = template.Must(template.New("ref").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Rapport API reference</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1d2433}
h1{margin-bottom:0}h2{border-bottom:1px solid #d8dde6;margin-top:2.5rem}
.ep{margin:1rem 0;padding:.75rem 1rem;border:1px solid #e3e7ee;border-radius:6px}
.m{display:inline-block;min-width:4.5rem;font-weight:700}.GET{color:#1a7f37}.POST{color:#0969da}.PATCH{color:#9a6700}.DELETE{color:#cf222e}
code{background:#f3f5f8;padding:0 .25rem;border-radius:3px}table{border-collapse:collapse;margin-top:.5rem}td,th{padding:.15rem .6rem;text-align:left;vertical-align:top;font-size:14px}
</style></head><body>
<h1>Rapport API reference</h1>
<p>REST/JSON over the same API the services speak in gRPC. Send <code>Authorization: Bearer &lt;API key or token&gt;</code>.
Errors are <code>google.rpc.Status</code> JSON with field violations. The machine-readable document is <a href="/openapi.json">/openapi.json</a>.</p>
{{range .}}<h2>{{.Service}}</h2>
{{range .Endpoints}}<div class="ep"><span class="m {{.Method}}">{{.Method}}</span> <code>{{.Path}}</code>
<div>{{.Summary}}</div>
{{if .Parameters}}<table><tr><th>parameter</th><th>in</th><th>type</th><th>about</th></tr>
{{range .Parameters}}<tr><td><code>{{.Name}}</code>{{if .Required}} *{{end}}</td><td>{{.In}}</td><td>{{.Type}}</td><td>{{.Description}}</td></tr>{{end}}
</table>{{end}}</div>
{{end}}{{end}}
</body></html>
`))

// Reference renders the API reference page.
func Reference(w http.ResponseWriter, _ *http.Request) {
	s, err := sections()
	if err != nil {
		http.Error(w, "the API document is unreadable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = page.Execute(w, s)
}
