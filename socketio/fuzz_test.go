package socketio

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecode checks that Decode never panics, that its errors wrap
// ErrInvalidPacket, that accepted packets satisfy the documented guarantees
// and survive AppendPacket -> Decode unchanged, and that Event and
// ReplacePlaceholders agree with encoding/json on what they accept.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`0`, `0/admin,`, `0/admin,{"token":"123"}`, `0/chat?token=1,`, `1`, `1/admin,`,
		`2["hello",1]`, `212["foo"]`, `2/admin,456["project:delete",123]`,
		`2/chat,12["chat_message",{"text":"hello"}]`, `2[42,"x"]`, `2["esc\"aped\u00e9",[1,{"a":"]"}]]`,
		`3/admin,456[]`, `3/admin,13["bar"]`, `4{"message":"Not authorized"}`, `4"nope"`,
		`51-["hello",{"_placeholder":true,"num":0}]`,
		`52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`,
		`61-/admin,456[{"_placeholder":true,"num":0}]`,
		`51-["x",{"_placeholder":true,"num":0,"in":{"_placeholder":true,"num":9}}]`,
		`51-[{"_placeholder":true,"num":0,"num":"x"}]`, `51-[{"_place\u0068older":true,"num":0}]`,
		`62-[{"num":1,"_placeholder":true},[{"_placeholder":true,"num":0}]]`, `51-[{"_placeholder":true,"num":1.0}]`,
		`50-[{"_placeholder":false},{"_placeholder":"true","num":0}]`, `51-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]`,
		``, `7`, `2`, `2{}`, `2[]`, `2["connect"]`, `2["\u0063onnect"]`, `0/admin,[]`, `1/a,{}`,
		`5-[]`, `2/admin`, `2abc`, `21a["x"]`, `2["x"`, `218446744073709551616["x"]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := Decode(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidPacket) {
				t.Fatalf("error %v does not wrap ErrInvalidPacket", err)
			}
			return
		}
		if !p.Type.Valid() {
			t.Fatalf("invalid type %d", p.Type)
		}
		if !strings.HasPrefix(p.Namespace, "/") || strings.Contains(p.Namespace, ",") {
			t.Fatalf("bad namespace %q", p.Namespace)
		}
		if p.Data != nil && !json.Valid(p.Data) {
			t.Fatalf("Data %q is not valid JSON", p.Data)
		}
		if !p.Type.IsBinary() && p.Attachments != 0 {
			t.Fatalf("non-binary packet with %d attachments", p.Attachments)
		}

		enc := AppendPacket(nil, p)
		again, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-encoded %q does not decode: %v", enc, err)
		}
		if !packetEqual(p, again) {
			t.Fatalf("round trip mismatch:\n first %+v\nsecond %+v", p, again)
		}

		if p.Type == PacketEvent || p.Type == PacketBinaryEvent {
			checkEvent(t, p)
		}
		if p.Type.IsBinary() && p.Attachments <= 64 {
			att := make([][]byte, p.Attachments)
			for i := range att {
				att[i] = []byte{byte(i)}
			}
			out, err := ReplacePlaceholders(p.Data, att)
			want, wantErr := referenceReplace(p.Data, att)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("ReplacePlaceholders(%q): error %v, reference error %v", p.Data, err, wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrInvalidPacket) {
					t.Fatalf("ReplacePlaceholders error %v does not wrap ErrInvalidPacket", err)
				}
				return
			}
			dec := json.NewDecoder(bytes.NewReader(out))
			dec.UseNumber()
			var got any
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("ReplacePlaceholders(%q) = %q: %v", p.Data, out, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("ReplacePlaceholders(%q) = %q, reference %#v", p.Data, out, want)
			}
		}
	})
}

// checkEvent compares Event against a full encoding/json decode.
func checkEvent(t *testing.T, p Packet) {
	name, args, err := p.Event()
	if err != nil {
		t.Fatalf("Event of decoded packet %+v: %v", p, err)
	}
	var all []json.RawMessage
	if err := json.Unmarshal(p.Data, &all); err != nil {
		t.Fatalf("encoding/json rejects event data %q: %v", p.Data, err)
	}
	if len(all) != len(args)+1 {
		t.Fatalf("Event of %q: %d args, encoding/json sees %d elements", p.Data, len(args), len(all))
	}
	var wantName string
	if err := json.Unmarshal(all[0], &wantName); err != nil {
		wantName = string(all[0]) // a numeric name
	}
	if name != wantName {
		t.Fatalf("Event of %q: name %q, want %q", p.Data, name, wantName)
	}
	for i := range args {
		if string(args[i]) != string(all[i+1]) {
			t.Fatalf("Event of %q: arg %d = %q, want %q", p.Data, i, args[i], all[i+1])
		}
	}
}

// referenceReplace is a slow, obviously correct ReplacePlaceholders built on
// a full encoding/json decode, with the same documented rules: an object
// with "_placeholder": true is replaced whole, its "num" must be plain
// digits below len(att), and every attachment must be used. The result is
// the decoded value, with numbers kept as json.Number.
func referenceReplace(data []byte, att [][]byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	used := make([]bool, len(att))
	var walk func(any) (any, error)
	walk = func(v any) (any, error) {
		switch x := v.(type) {
		case []any:
			for i := range x {
				var err error
				if x[i], err = walk(x[i]); err != nil {
					return nil, err
				}
			}
			return x, nil
		case map[string]any:
			if x["_placeholder"] == true {
				num, ok := x["num"].(json.Number)
				if !ok || len(num) == 0 || len(num) > 9 || strings.TrimLeft(string(num), "0123456789") != "" {
					return nil, fmt.Errorf("bad num %v", x["num"])
				}
				n, _ := num.Int64()
				if int(n) >= len(att) {
					return nil, fmt.Errorf("num %d out of range", n)
				}
				used[n] = true
				return base64.StdEncoding.EncodeToString(att[n]), nil
			}
			for k := range x {
				var err error
				if x[k], err = walk(x[k]); err != nil {
					return nil, err
				}
			}
			return x, nil
		}
		return v, nil
	}
	out, err := walk(v)
	if err != nil {
		return nil, err
	}
	for i, u := range used {
		if !u {
			return nil, fmt.Errorf("attachment %d unused", i)
		}
	}
	return out, nil
}
