package mocktikv_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"

	tikv "github.com/tikvgo/tikv"
	"github.com/tikvgo/tikv/mocktikv"
	"github.com/tikvgo/tikv/raw"
)

// ExampleWithControlAPI drives a served mock over HTTP, as a client or a
// chaos script in another process would: it makes the next RawGet of one
// key meet ServerIsBusy, and the client retries through it.
func ExampleWithControlAPI() {
	mock := mocktikv.NewCluster(mocktikv.WithStores(3), mocktikv.WithControlAPI())
	if err := mock.Serve(); err != nil {
		log.Fatal(err)
	}
	defer mock.Close()
	control := func(method, path, body string) string {
		req, err := http.NewRequest(method, "http://"+mock.PDAddrs()[0]+"/mocktikv/v1"+path, strings.NewReader(body))
		if err != nil {
			log.Fatal(err)
		}
		req.Close = true // keep no idle connection
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return strings.TrimSpace(string(out))
	}

	// "6b" is the key "k" in hex.
	fmt.Println(control("POST", "/faults", `{"cmd": "RawGet", "key": "6b",
		"steps": [{"times": 1, "region_error": {"server_is_busy": {"reason": "example"}}}]}`))

	ctx := context.Background()
	cluster, err := tikv.Connect(ctx, mock.PDAddrs())
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	client := raw.NewClient(cluster)
	if err := client.Put(ctx, []byte("k"), []byte("v")); err != nil {
		log.Fatal(err)
	}
	v, err := client.Get(ctx, []byte("k"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n%s\n", v, control("GET", "/faults/1", ""))
	// Output:
	// {"id":1}
	// v
	// {"hits":1,"id":1}
}
