package socketio_test

import (
	"encoding/json"
	"fmt"

	"github.com/serverless-socketio/server/socketio"
)

func ExampleDecode() {
	p, err := socketio.Decode([]byte(`2/chat,12["chat_message",{"text":"hello"}]`))
	if err != nil {
		fmt.Println(err)
		return
	}
	name, args, err := p.Event()
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Type, p.Namespace, p.ID, name, string(args[0]))

	ack := socketio.Packet{Type: socketio.PacketAck, Namespace: p.Namespace, ID: p.ID, HasID: true, Data: json.RawMessage(`["ok"]`)}
	fmt.Println(string(socketio.AppendPacket(nil, ack)))
	// Output:
	// EVENT /chat 12 chat_message {"text":"hello"}
	// 3/chat,12["ok"]
}

func ExampleReplacePlaceholders() {
	p, err := socketio.Decode([]byte(`51-["upload",{"_placeholder":true,"num":0}]`))
	if err != nil {
		fmt.Println(err)
		return
	}
	// The p.Attachments binary messages that follow the packet:
	attachments := [][]byte{{1, 2, 3, 4}}
	data, err := socketio.ReplacePlaceholders(p.Data, attachments)
	if err != nil {
		fmt.Println(err)
		return
	}
	p.Data = data
	name, args, err := p.Event()
	if err != nil {
		fmt.Println(err)
		return
	}
	var file []byte // encoding/json decodes the base64 string into bytes
	if err := json.Unmarshal(args[0], &file); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(data), name, file)
	// Output:
	// ["upload","AQIDBA=="] upload [1 2 3 4]
}

func ExampleAppendPlaceholder() {
	data := []byte(`["upload",`)
	data = socketio.AppendPlaceholder(data, 0)
	data = append(data, ']')
	out := socketio.AppendPacket(nil, socketio.Packet{Type: socketio.PacketBinaryEvent, Attachments: 1, Data: data})
	fmt.Println(string(out))
	// Output:
	// 51-["upload",{"_placeholder":true,"num":0}]
}
