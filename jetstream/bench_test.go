package jetstream_test

import (
	"testing"

	"github.com/ssehub/ssehub/hub"
	"github.com/ssehub/ssehub/hub/logtest"
	"github.com/ssehub/ssehub/jetstream"
	"github.com/ssehub/ssehub/jetstream/jstest"
)

// BenchmarkFanoutJetStream1Server and BenchmarkFanoutJetStream3Nodes64 are
// the redis package's BenchmarkFanoutRedis1Node and
// BenchmarkFanoutRedis3Nodes64 on JetStream (logtest.BenchFanout): 1,000
// in-process subscribers, and 4 publishers on one hub on one server, or 64
// publishers over three hubs on a three-server cluster with three replicas
// (each publish acknowledged once two servers hold it).
func BenchmarkFanoutJetStream1Server(b *testing.B) {
	benchFanout(b, jstest.Start(b).URL(), 1, 4)
}

func BenchmarkFanoutJetStream3Nodes64(b *testing.B) {
	benchFanout(b, jstest.StartCluster(b, 3).URL(), 3, 64)
}

func benchFanout(b *testing.B, urls string, nodes, publishers int) {
	opts := fresh(jetstream.Options{})
	logs := make([]hub.Log, nodes)
	for i := range logs {
		logs[i] = openLog(b, urls, opts)
	}
	logtest.BenchFanout(b, logs, 1000, publishers)
}
