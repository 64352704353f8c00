package mocktikv

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/tikvgo/tikv/internal/testcerts"
)

// httpGetJSON GETs url with its own transport (closed at the end of the
// test, so no idle connection outlives it) and decodes the JSON body.
func httpGetJSON(t *testing.T, tr *http.Transport, url string, v any) {
	t.Helper()
	t.Cleanup(tr.CloseIdleConnections)
	req := must(http.NewRequestWithContext(testCtx(t), http.MethodGet, url, nil))(t)
	resp := must((&http.Client{Transport: tr}).Do(req))(t)
	defer resp.Body.Close()
	eq(t, resp.StatusCode, http.StatusOK, "status of %s", url)
	noErr(t, json.NewDecoder(resp.Body).Decode(v))
}

// TestMuxSilentConnection: a connection that never speaks holds up
// neither the other clients nor Close.
func TestMuxSilentConnection(t *testing.T) {
	c := NewCluster()
	noErr(t, c.Serve())
	silent := must(net.Dial("tcp", c.PDAddrs()[0]))(t)
	defer silent.Close()

	var version map[string]string
	httpGetJSON(t, &http.Transport{}, "http://"+c.PDAddrs()[0]+"/pd/api/v1/version", &version)
	eq(t, version["version"], pdVersion, "HTTP beside a silent connection")
	conn := must(grpc.NewClient(c.PDAddrs()[0], grpc.WithTransportCredentials(insecure.NewCredentials())))(t)
	defer conn.Close()
	must(pb.NewClusterClient(conn).MemberList(testCtx(t), &pb.MemberListRequest{}))(t)

	start := time.Now()
	c.Close()
	if d := time.Since(start); d >= sniffTimeout {
		t.Fatalf("Close took %v: it waited for the silent connection", d)
	}
	// The server closed the silent connection: a read ends.
	_ = silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := silent.Read(make([]byte, 1)); err == nil {
		t.Fatal("silent connection still open after Close")
	}
}

// TestMuxTLS: with mutual TLS, gRPC and HTTP (over HTTP/1.1 and over h2)
// share PD's port, PD advertises https URLs, and a client without a
// certificate is turned away on HTTP too.
func TestMuxTLS(t *testing.T) {
	serverCfg, clientCfg := testTLSConfigs(t)
	c := Start(t, WithTLS(serverCfg))
	addr := c.PDAddrs()[0]

	conn := must(grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(clientCfg))))(t)
	defer conn.Close()
	members := must(pb.NewClusterClient(conn).MemberList(testCtx(t), &pb.MemberListRequest{}))(t)
	eq(t, members.Members[0].ClientURLs[0], "https://"+addr, "client URL")

	for _, h2 := range []bool{false, true} {
		var version map[string]string
		httpGetJSON(t, &http.Transport{TLSClientConfig: clientCfg.Clone(), ForceAttemptHTTP2: h2}, "https://"+addr+"/pd/api/v1/version", &version)
		eq(t, version["version"], pdVersion, "version over TLS")
	}
	noCert := &tls.Config{RootCAs: clientCfg.RootCAs, MinVersion: tls.VersionTLS12}
	tr := &http.Transport{TLSClientConfig: noCert}
	defer tr.CloseIdleConnections()
	if resp, err := (&http.Client{Transport: tr}).Get("https://" + addr + "/pd/api/v1/version"); err == nil {
		resp.Body.Close()
		t.Fatal("HTTP without a client certificate was served")
	}
	var cfg storeConfigBody
	httpGetJSON(t, &http.Transport{TLSClientConfig: clientCfg.Clone()}, "https://"+c.StoreAddr(c.StoreIDs()[0])+"/config", &cfg)
	eq(t, cfg.Storage.APIVersion, 1, "store status over TLS")
}

// testTLSConfigs returns a server configuration requiring mutual TLS and
// a client configuration with the CA and the client certificate.
func testTLSConfigs(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	certs := must(testcerts.Generate(t.TempDir()))(t)
	server = must(certs.ServerTLS())(t)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(must(os.ReadFile(certs.CA))(t)) {
		t.Fatal("no CA certificate")
	}
	cert := must(tls.LoadX509KeyPair(certs.ClientCert, certs.ClientKey))(t)
	client = &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	return server, client
}
