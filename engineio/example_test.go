package engineio_test

import (
	"fmt"

	"github.com/serverless-socketio/server/engineio"
)

func ExampleDecodePayload() {
	packets, err := engineio.DecodePayload([]byte("4hello\x1e2probe\x1ebAQIDBA=="))
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range packets {
		if p.Binary {
			fmt.Printf("%v binary %v\n", p.Type, p.Data)
		} else {
			fmt.Printf("%v %q\n", p.Type, p.Data)
		}
	}
	// Output:
	// message "hello"
	// ping "probe"
	// message binary [1 2 3 4]
}

func ExampleAppendPayload() {
	body := engineio.AppendPayload(nil, []engineio.Packet{
		{Type: engineio.PacketMessage, Data: []byte(`2["hey","Jude"]`)},
		{Type: engineio.PacketMessage, Data: []byte{1, 2, 3, 4}, Binary: true},
	})
	fmt.Printf("%q\n", body)
	// Output:
	// "42[\"hey\",\"Jude\"]\x1ebAQIDBA=="
}
