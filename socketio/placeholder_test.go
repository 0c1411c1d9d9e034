package socketio

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestReplacePlaceholders(t *testing.T) {
	a0, a1 := []byte{1, 2, 3, 4}, []byte("hi")
	tests := []struct {
		name string
		data string
		att  [][]byte
		want string
	}{
		{"no placeholders", `["x",1]`, nil, `["x",1]`},
		{"single", `["hello",{"_placeholder":true,"num":0}]`, [][]byte{a0}, `["hello","AQIDBA=="]`},
		{"two", `["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, [][]byte{a0, a1}, `["baz","AQIDBA==","aGk="]`},
		{"reversed order", `[{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]`, [][]byte{a0, a1}, `["aGk=","AQIDBA=="]`},
		{"nested object", `["e",{"meta":{"file":{"_placeholder":true,"num":0},"n":1}}]`, [][]byte{a0}, `["e",{"meta":{"file":"AQIDBA==","n":1}}]`},
		{"nested array", `["e",[[{"_placeholder":true,"num":0}],[{"_placeholder":true,"num":1}]]]`, [][]byte{a0, a1}, `["e",[["AQIDBA=="],["aGk="]]]`},
		{"top level", `{"_placeholder":true,"num":0}`, [][]byte{a0}, `"AQIDBA=="`},
		{"key order and spaces", `[ { "num" : 0 , "_placeholder" : true } ]`, [][]byte{a0}, `[ "AQIDBA==" ]`},
		{"escaped key", `[{"_place\u0068older":true,"num":0}]`, [][]byte{a0}, `["AQIDBA=="]`},
		{"extra members", `[{"_placeholder":true,"num":0,"x":[1]}]`, [][]byte{a0}, `["AQIDBA=="]`},
		{"reused attachment", `[{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]`, [][]byte{a0}, `["AQIDBA==","AQIDBA=="]`},
		{"empty attachment", `[{"_placeholder":true,"num":0}]`, [][]byte{{}}, `[""]`},
		{"placeholder false is data", `[{"_placeholder":false,"num":9}]`, nil, `[{"_placeholder":false,"num":9}]`},
		{"placeholder string is data", `[{"_placeholder":"true","num":9}]`, nil, `[{"_placeholder":"true","num":9}]`},
		{"placeholder-looking strings", `["{\"_placeholder\":true,\"num\":0}",{"_placeholder":true,"num":0}]`, [][]byte{a0}, `["{\"_placeholder\":true,\"num\":0}","AQIDBA=="]`},
		{"inner placeholder replaced with outer", `[{"_placeholder":true,"num":0,"inner":{"_placeholder":true,"num":5}}]`, [][]byte{a0}, `["AQIDBA=="]`},
		{"last duplicate key wins", `[{"_placeholder":false,"_placeholder":true,"num":7,"num":0}]`, [][]byte{a0}, `["AQIDBA=="]`},
	}
	for _, tt := range tests {
		got, err := ReplacePlaceholders(json.RawMessage(tt.data), tt.att)
		if err != nil {
			t.Errorf("%s: unexpected error %v", tt.name, err)
			continue
		}
		if string(got) != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, got, tt.want)
		}
		if !json.Valid(got) {
			t.Errorf("%s: result %s is not valid JSON", tt.name, got)
		}
	}
}

func TestReplacePlaceholdersDecodesToBytes(t *testing.T) {
	p, err := Decode([]byte(`51-["upload",{"name":"f","body":{"_placeholder":true,"num":0}}]`))
	if err != nil {
		t.Fatal(err)
	}
	data, err := ReplacePlaceholders(p.Data, [][]byte{{0xde, 0xad, 0xbe, 0xef}})
	if err != nil {
		t.Fatal(err)
	}
	p.Data = data
	_, args, err := p.Event()
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Name string
		Body []byte
	}
	if err := json.Unmarshal(args[0], &file); err != nil {
		t.Fatal(err)
	}
	if file.Name != "f" || !reflect.DeepEqual(file.Body, []byte{0xde, 0xad, 0xbe, 0xef}) {
		t.Errorf("decoded %+v", file)
	}
}

func TestReplacePlaceholdersNoCopy(t *testing.T) {
	data := json.RawMessage(`["x"]`)
	got, err := ReplacePlaceholders(data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if &got[0] != &data[0] {
		t.Error("data without placeholders was copied")
	}
}

func TestReplacePlaceholdersErrors(t *testing.T) {
	a := []byte{1}
	tests := []struct {
		name, data string
		att        [][]byte
		why        string
	}{
		{"num out of range", `[{"_placeholder":true,"num":1}]`, [][]byte{a}, "out of range"},
		{"no attachments", `[{"_placeholder":true,"num":0}]`, nil, "out of range"},
		{"unused attachment", `[{"_placeholder":true,"num":0}]`, [][]byte{a, a}, "attachment 1 is not referenced"},
		{"attachment without placeholder", `["x"]`, [][]byte{a}, "attachment 0 is not referenced"},
		{"unused attachment beyond 64", `[{"_placeholder":true,"num":0}]`, make([][]byte, 70), "attachment 1 is not referenced"},
		{"negative num", `[{"_placeholder":true,"num":-1}]`, [][]byte{a}, "not a non-negative integer"},
		{"fractional num", `[{"_placeholder":true,"num":0.5}]`, [][]byte{a}, "not a non-negative integer"},
		{"string num", `[{"_placeholder":true,"num":"0"}]`, [][]byte{a}, "not a non-negative integer"},
		{"missing num", `[{"_placeholder":true}]`, [][]byte{a}, "not a non-negative integer"},
		{"huge num", `[{"_placeholder":true,"num":99999999999999999999}]`, [][]byte{a}, "not a non-negative integer"},
		{"invalid JSON", `[{"_placeholder":true,"num":0}`, [][]byte{a}, "valid JSON"},
		{"empty", ``, nil, "valid JSON"},
	}
	for _, tt := range tests {
		got, err := ReplacePlaceholders(json.RawMessage(tt.data), tt.att)
		if !errors.Is(err, ErrInvalidPacket) {
			t.Errorf("%s: got %s, %v; want ErrInvalidPacket", tt.name, got, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.why) {
			t.Errorf("%s: error %q, want it to mention %q", tt.name, err, tt.why)
		}
	}
}

func TestReplacePlaceholdersManyAttachments(t *testing.T) {
	const n = 130
	data := []byte{'['}
	att := make([][]byte, n)
	want := []byte{'['}
	for i := range n {
		if i > 0 {
			data = append(data, ',')
			want = append(want, ',')
		}
		data = AppendPlaceholder(data, i)
		att[i] = []byte{byte(i)}
		b, _ := json.Marshal(att[i])
		want = append(want, b...)
	}
	data = append(data, ']')
	want = append(want, ']')
	got, err := ReplacePlaceholders(data, att)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Errorf("got %s\nwant %s", got, want)
	}
	if cap(got) != len(got) {
		t.Errorf("result not sized exactly: len %d cap %d", len(got), cap(got))
	}
}
