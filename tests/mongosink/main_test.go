package mongosink_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"github.com/distcron/distcron/logsink/mongosink"
)

// envMongo names a MongoDB server to test against instead of an embedded
// FerretDB, e.g. mongodb://127.0.0.1:27017/?directConnection=true
const envMongo = "DISTCRON_MONGODB_URI"

const testDB = "distcron_test"

func TestMain(m *testing.M) {
	code := m.Run()
	shared.close()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// ferret is an embedded FerretDB with its SQLite backend, listening on
// loopback.
type ferret struct {
	addr   string
	cancel context.CancelFunc
	done   chan struct{}
}

// startFerret starts FerretDB on addr (host:port; port 0 picks one) with
// its data in dir.
func startFerret(dir, addr string) (*ferret, error) {
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: addr},
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
		Logger:    slog.New(slog.NewTextHandler(ferretLog, nil)),
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	fe := &ferret{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(fe.done)
		f.Run(ctx)
	}()
	// MongoDBURI waits for the listener.
	uri := f.MongoDBURI()
	fe.addr = uri[len("mongodb://") : len(uri)-1]
	return fe, nil
}

func (f *ferret) uri() string { return "mongodb://" + f.addr + "/" }

// stop stops FerretDB and waits until its listener and connections are
// closed.
func (f *ferret) stop() {
	f.cancel()
	<-f.done
}

// shared is the server the tests share: DISTCRON_MONGODB_URI, or one
// embedded FerretDB started on first use.
var shared sharedServer

type sharedServer struct {
	once   sync.Once
	err    error
	uri    string
	dir    string
	ferret *ferret
	client *mongo.Client
}

func (s *sharedServer) close() {
	if s.client != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		s.client.Disconnect(ctx)
		cancel()
	}
	if s.ferret != nil {
		s.ferret.stop()
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// external reports whether the tests run against DISTCRON_MONGODB_URI.
func external() bool { return os.Getenv(envMongo) != "" }

func connect(uri string) (*mongo.Client, error) {
	return mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(5 * time.Second).SetTimeout(30 * time.Second))
}

// client returns the shared client, starting the server if needed.
func client(t testing.TB) *mongo.Client {
	t.Helper()
	shared.once.Do(func() {
		shared.uri = os.Getenv(envMongo)
		if shared.uri == "" {
			if shared.dir, shared.err = os.MkdirTemp("", "distcron-ferretdb-"); shared.err != nil {
				return
			}
			if shared.ferret, shared.err = startFerret(shared.dir, "127.0.0.1:0"); shared.err != nil {
				return
			}
			shared.uri = shared.ferret.uri()
		}
		if shared.client, shared.err = connect(shared.uri); shared.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shared.err = shared.client.Ping(ctx, nil)
	})
	if shared.err != nil {
		t.Fatalf("MongoDB server (%s): %v", shared.uri, shared.err)
	}
	return shared.client
}

// collection returns a collection of c that no other test (or test run)
// uses, dropped at cleanup.
func collection(t testing.TB, c *mongo.Client) *mongo.Collection {
	b := make([]byte, 6)
	rand.Read(b)
	coll := c.Database(testDB).Collection("runs_" + hex.EncodeToString(b))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := coll.Drop(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("drop %s: %v", coll.Name(), err)
		}
	})
	return coll
}

func newSink(t testing.TB, opts ...mongosink.Option) (*mongosink.Sink, *mongo.Collection) {
	t.Helper()
	coll := collection(t, client(t))
	opts = append([]mongosink.Option{mongosink.WithLogger(zaptest.NewLogger(t))}, opts...)
	s, err := mongosink.New(coll, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, coll
}

var ferretLog io.Writer = io.Discard
