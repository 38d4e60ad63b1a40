// Command golden-go is the oracle for crates/cloudevent-encode: it decodes vCenter SOAP
// ReadNextEvents responses with govmomi at the version the Go project
// (vmware-tanzu/sources-for-knative) pins, and writes what the Go adapter would send as
// CloudEvent data: encoding/xml.Marshal and encoding/json.Marshal of each decoded event.
//
// Subcommands:
//
//	golden-go golden -out DIR FIXTURE.xml...   write DIR/<name>.golden.jsonl per fixture
//	golden-go allfields -types-go TYPES.GO -out FILE
//	                                           write a SOAP page with one event of every govmomi
//	                                           event type, every Go field filled (deterministic)
//	golden-go bench -seconds N PAGE.xml        time the Go adapter's per-page pipeline
//
// Run it through crates/cloudevent-encode/tests/golden/regenerate.sh (goldens) and
// benches/encode-vs-go.sh (benchmark).
package main

import (
	"bytes"
	"encoding/json"
	stdxml "encoding/xml"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	vimxml "github.com/vmware/govmomi/vim25/xml"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: golden-go golden|allfields|bench ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "golden":
		err = golden(os.Args[2:])
	case "allfields":
		err = allFields(os.Args[2:])
	case "bench":
		err = bench(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "golden-go:", err)
		os.Exit(1)
	}
}

// decodePage decodes a ReadNextEvents response exactly as govmomi's soap.Client does.
func decodePage(body []byte) ([]types.BaseEvent, error) {
	var resBody methods.ReadNextEventsBody
	env := soap.Envelope{Body: &resBody}
	dec := vimxml.NewDecoder(bytes.NewReader(body))
	dec.TypeFunc = types.TypeFunc()
	if err := dec.Decode(&env); err != nil {
		return nil, err
	}
	if f := resBody.Fault(); f != nil {
		return nil, soap.WrapSoapFault(f)
	}
	if resBody.Res == nil {
		return nil, fmt.Errorf("no ReadNextEventsResponse in body")
	}
	return resBody.Res.Returnval, nil
}

// eventDetails is pkg/vsphere getEventDetails of the Go project.
func eventDetails(be types.BaseEvent) (class, typ string) {
	switch e := be.(type) {
	case *types.EventEx:
		return "eventex", e.EventTypeId
	case *types.ExtendedEvent:
		return "extendedevent", e.EventTypeId
	default:
		return "event", reflect.TypeOf(be).Elem().Name()
	}
}

type goldenLine struct {
	Index           int     `json:"index"`
	ID              string  `json:"id,omitempty"`
	Type            string  `json:"type,omitempty"`
	EventClass      string  `json:"eventclass,omitempty"`
	DataContentType string  `json:"datacontenttype,omitempty"`
	Data            *string `json:"data,omitempty"`
	Unknown         string  `json:"unknown,omitempty"`
}

func golden(args []string) error {
	fs := flag.NewFlagSet("golden", flag.ExitOnError)
	out := fs.String("out", ".", "output directory")
	_ = fs.Parse(args)
	for _, path := range fs.Args() {
		body, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		events, err := decodePage(body)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		var buf bytes.Buffer
		for _, enc := range []string{"application/xml", "application/json"} {
			for i, be := range events {
				line := goldenLine{Index: i}
				if be == nil {
					// The Go adapter panics on these (reflect.TypeOf(nil).Elem()).
					line.Unknown = "govmomi does not know the event type; the Go adapter panics"
				} else {
					class, typ := eventDetails(be)
					line.ID = fmt.Sprintf("%d", be.GetEvent().Key)
					line.Type = fmt.Sprintf("com.vmware.vsphere.%s.v0", typ)
					line.EventClass = class
					line.DataContentType = enc
					var data []byte
					if enc == "application/xml" {
						data, err = stdxml.Marshal(be)
					} else {
						data, err = json.Marshal(be)
					}
					if err != nil {
						return fmt.Errorf("%s: event %d: %w", path, i, err)
					}
					s := string(data)
					line.Data = &s
				}
				b, err := json.Marshal(line)
				if err != nil {
					return err
				}
				buf.Write(b)
				buf.WriteByte('\n')
			}
		}
		name := strings.TrimSuffix(filepath.Base(path), ".xml") + ".golden.jsonl"
		if err := os.WriteFile(filepath.Join(*out, name), buf.Bytes(), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "golden-go: %s: %d events -> %s\n", path, len(events), name)
	}
	return nil
}

// --- allfields: one event of every type, every field filled -------------------------------------

type filler struct {
	n int
	// every govmomi struct type, for choosing concrete types for interface fields
	structs []reflect.Type
	impls   map[reflect.Type][]reflect.Type
}

// implementers lists the struct types whose pointer implements iface, in name order.
func (f *filler) implementers(iface reflect.Type) []reflect.Type {
	if got, ok := f.impls[iface]; ok {
		return got
	}
	var out []reflect.Type
	for _, t := range f.structs {
		if reflect.PtrTo(t).Implements(iface) {
			out = append(out, t)
		}
	}
	f.impls[iface] = out
	return out
}

var specials = []string{
	`plain`,
	`quote " apostrophe ' amp & lt < gt >`,
	"tab\there\nnewline\rcarriage",
	`VSPHERE.LOCAL\Administrator`,
	"unicode é ü 日本 😀 \u2028 \u2029",
	`<script>alert("x")</script>`,
	``,
}

func (f *filler) next() int { f.n++; return f.n }

func (f *filler) fill(v reflect.Value, name string, depth int) {
	switch v.Kind() {
	case reflect.String:
		i := f.next()
		if i%5 == 0 {
			v.SetString(specials[(i/5)%len(specials)])
		} else {
			v.SetString(fmt.Sprintf("%s-%d", name, i))
		}
	case reflect.Bool:
		v.SetBool(f.next()%2 == 0)
	case reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		i := f.next()
		if i%7 == 0 {
			v.SetInt(-int64(i))
		} else {
			v.SetInt(int64(i))
		}
	case reflect.Float32, reflect.Float64:
		floats := []float64{1.5, 0.1, 1e21, 1e-7, 123456789, 3, -2.25, 1e20}
		v.SetFloat(floats[f.next()%len(floats)])
	case reflect.Ptr:
		if depth > 6 {
			return
		}
		p := reflect.New(v.Type().Elem())
		f.fill(p.Elem(), name, depth+1)
		v.Set(p)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			// []byte: left nil (govmomi writes raw bytes to SOAP, which does not round-trip).
			return
		}
		if depth > 5 {
			return
		}
		n := 2
		if depth > 3 {
			n = 1
		}
		s := reflect.MakeSlice(v.Type(), n, n)
		for i := 0; i < n; i++ {
			f.fill(s.Index(i), name, depth+1)
		}
		v.Set(s)
	case reflect.Interface:
		if depth > 6 {
			return
		}
		if v.Type().Name() == "AnyType" {
			vals := []interface{}{fmt.Sprintf("any-%d", f.next()), int32(f.next()), true, int64(-f.next())}
			v.Set(reflect.ValueOf(vals[f.n%len(vals)]))
			return
		}
		// BaseX: X itself or one of its subtypes, in rotation, so every concrete type shows up.
		impls := f.implementers(v.Type())
		if len(impls) == 0 {
			return
		}
		typ := impls[f.next()%len(impls)]
		p := reflect.New(typ)
		f.fill(p.Elem(), typ.Name(), depth+1)
		v.Set(p)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			i := f.next()
			v.Set(reflect.ValueOf(time.Date(2026, 3, 21, 8, i%60, 39, (i*123457)%1000000*1000, time.UTC)))
			return
		}
		if v.Type() == reflect.TypeOf(types.ManagedObjectReference{}) {
			i := f.next()
			v.Set(reflect.ValueOf(types.ManagedObjectReference{Type: "VirtualMachine", Value: fmt.Sprintf("vm-%d", i)}))
			return
		}
		for i := 0; i < v.NumField(); i++ {
			sf := v.Type().Field(i)
			if sf.PkgPath != "" {
				continue
			}
			f.fill(v.Field(i), sf.Name, depth)
		}
	}
}

func allFields(args []string) error {
	fs := flag.NewFlagSet("allfields", flag.ExitOnError)
	typesGo := fs.String("types-go", "", "govmomi vim25/types/types.go (for the list of type names)")
	out := fs.String("out", "", "output SOAP file")
	_ = fs.Parse(args)
	src, err := os.ReadFile(*typesGo)
	if err != nil {
		return err
	}
	re := regexp.MustCompile(`(?m)^type (\w+) struct`)
	var names []string
	f := &filler{impls: map[reflect.Type][]reflect.Type{}}
	baseEvent := reflect.TypeOf((*types.BaseEvent)(nil)).Elem()
	for _, m := range re.FindAllStringSubmatch(string(src), -1) {
		typ, ok := types.TypeFunc()(m[1])
		if !ok || typ.Kind() != reflect.Struct {
			continue
		}
		f.structs = append(f.structs, typ)
		if reflect.PtrTo(typ).Implements(baseEvent) {
			names = append(names, m[1])
		}
	}
	sort.Strings(names)
	sort.Slice(f.structs, func(i, j int) bool { return f.structs[i].Name() < f.structs[j].Name() })
	var events []types.BaseEvent
	for i, name := range names {
		typ, _ := types.TypeFunc()(name)
		p := reflect.New(typ)
		f.fill(p.Elem(), name, 0)
		be := p.Interface().(types.BaseEvent)
		be.GetEvent().Key = int32(90001 + i)
		be.GetEvent().ChainId = int32(90001 + i)
		events = append(events, be)
	}
	body := methods.ReadNextEventsBody{Res: &types.ReadNextEventsResponse{Returnval: events}}
	var buf bytes.Buffer
	buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	buf.WriteString(`<soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>`)
	// The response element as vcsim writes it (govmomi's xml fork: XMLSchema-instance:type).
	inner, err := vimxml.Marshal(body.Res)
	if err != nil {
		return err
	}
	inner = bytes.Replace(inner, []byte("<ReadNextEventsResponse>"), []byte(`<ReadNextEventsResponse xmlns="urn:vim25">`), 1)
	// One event per line, for readable diffs.
	inner = bytes.ReplaceAll(inner, []byte("<returnval "), []byte("\n<returnval "))
	buf.Write(inner)
	buf.WriteString("\n</soapenv:Body></soapenv:Envelope>\n")
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "golden-go: %d event types -> %s\n", len(events), *out)
	return nil
}

// --- bench: the Go adapter's per-page pipeline --------------------------------------------------

func bench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	seconds := fs.Float64("seconds", 3, "minimum measuring time per encoding")
	_ = fs.Parse(args)
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: golden-go bench [-seconds N] PAGE.xml")
	}
	body, err := os.ReadFile(fs.Arg(0))
	if err != nil {
		return err
	}
	events, err := decodePage(body)
	if err != nil {
		return err
	}
	perPage := len(events)
	for _, enc := range []string{"json", "xml"} {
		run := func() error {
			evs, err := decodePage(body)
			if err != nil {
				return err
			}
			for _, be := range evs {
				if be == nil {
					continue
				}
				var err error
				if enc == "json" {
					_, err = json.Marshal(be)
				} else {
					_, err = stdxml.Marshal(be)
				}
				if err != nil {
					return err
				}
			}
			return nil
		}
		// Warm up.
		for i := 0; i < 3; i++ {
			if err := run(); err != nil {
				return err
			}
		}
		start := time.Now()
		pages := 0
		for time.Since(start).Seconds() < *seconds {
			if err := run(); err != nil {
				return err
			}
			pages++
		}
		elapsed := time.Since(start).Seconds()
		fmt.Printf("go %s %.0f events/s (%d pages of %d events in %.2fs)\n", enc, float64(pages*perPage)/elapsed, pages, perPage, elapsed)
	}
	return nil
}
