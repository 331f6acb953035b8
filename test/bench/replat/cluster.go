package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/godwit-db/godwit/engine/attr"
	"github.com/godwit-db/godwit/streams"
	"github.com/godwit-db/godwit/test/bench/benchkit"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// regionNames are the regions of a run, in order; the last one is the one
// partitioned.
var regionNames = []string{"us-east-1", "us-west-2", "eu-west-1"}

// cluster is n godwit regions on this machine, each peered with every
// other one through a proxy per direction: proxies[i][j] carries region
// i's connection to region j's NATS (its driver reading j's stream, its
// control requests to j).
type cluster struct {
	regions []*benchkit.Godwit
	clients []*benchkit.Client
	proxies [][]*benchkit.Proxy
}

func startCluster(ctx context.Context, cfg config, n int) (*cluster, error) {
	c := &cluster{}
	ports := make([]int, n)
	for i := range ports {
		p, err := benchkit.FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	c.proxies = make([][]*benchkit.Proxy, n)
	for i := range n {
		c.proxies[i] = make([]*benchkit.Proxy, n)
		for j := range n {
			if i == j {
				continue
			}
			p, err := benchkit.NewProxy(fmt.Sprintf("127.0.0.1:%d", ports[j]))
			if err != nil {
				c.stop()
				return nil, err
			}
			c.proxies[i][j] = p
		}
	}
	for i := range n {
		var extra []string
		for j := range n {
			if j != i {
				extra = append(extra, "--peer", regionNames[j]+"=nats://"+c.proxies[i][j].Addr)
			}
		}
		extra = append(extra, cfg.godwitArgs...)
		g, err := benchkit.StartGodwit(ctx, benchkit.GodwitConfig{
			Bin: cfg.godwit, Region: regionNames[i], NATSPort: ports[i],
			DataDir: filepath.Join(cfg.dir, regionNames[i]), Log: filepath.Join(cfg.dir, regionNames[i]+".log"),
			Extra: extra,
		})
		if err != nil {
			c.stop()
			return nil, err
		}
		c.regions = append(c.regions, g)
		cl, err := benchkit.NewClient(g.API, cfg.conns, cfg.timeout)
		if err != nil {
			c.stop()
			return nil, err
		}
		c.clients = append(c.clients, cl)
	}
	return c, nil
}

func (c *cluster) stop() {
	for _, cl := range c.clients {
		cl.Close()
	}
	for _, g := range c.regions {
		g.Stop(10 * time.Second)
	}
	for _, row := range c.proxies {
		for _, p := range row {
			if p != nil {
				p.Close()
			}
		}
	}
}

// alive fails when a region's process has exited.
func (c *cluster) alive() error {
	for _, g := range c.regions {
		if g.Exited() {
			return fmt.Errorf("godwit %s exited; see %s", g.Region, g.Log)
		}
	}
	return nil
}

// partition cuts (or heals) every connection between region v and the others.
func (c *cluster) partition(v int, cut bool) {
	for i := range c.proxies {
		for j, p := range c.proxies[i] {
			if p == nil || (i != v && j != v) {
				continue
			}
			if cut {
				p.Cut()
			} else {
				p.Heal()
			}
		}
	}
}

// addReplica makes region r a replica of table (asked in region 0) and
// waits until both regions show it ACTIVE.
func (c *cluster) addReplica(ctx context.Context, table string, r int, timeout time.Duration) error {
	if err := c.clients[0].CreateReplica(ctx, table, regionNames[r]); err != nil {
		return err
	}
	return benchkit.PollUntil(ctx, timeout, 50*time.Millisecond, func() (bool, error) {
		if err := c.alive(); err != nil {
			return false, err
		}
		for _, i := range []int{0, r} {
			d, err := c.clients[i].Describe(ctx, table)
			if benchkit.IsType(err, "ResourceNotFoundException") {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			// NB: a region lists the other regions' replicas; its own
			// replica's state is its TableStatus.
			if i == r && (d.Table.TableStatus != "ACTIVE" || d.ReplicaStatus(regionNames[0]) != "ACTIVE") ||
				i != r && d.ReplicaStatus(regionNames[r]) != "ACTIVE" {
				return false, nil
			}
		}
		return true, nil
	})
}

// globalTable creates table in region 0 and adds every other region as a
// replica, one at a time (AWS allows one replica change at once).
func (c *cluster) globalTable(ctx context.Context, table string) error {
	if _, err := c.clients[0].CreateTable(ctx, table, true); err != nil {
		return err
	}
	for r := 1; r < len(c.regions); r++ {
		if err := c.addReplica(ctx, table, r, 2*time.Minute); err != nil {
			return fmt.Errorf("replica %s: %w", regionNames[r], err)
		}
	}
	return nil
}

// writeID is what the "w" attribute of every written item says: the
// region that wrote it and the writer's id there, "R:id".
func writeID(region, id int) string { return strconv.Itoa(region) + ":" + strconv.Itoa(id) }

func parseWriteID(s string) (region, id int, ok bool) {
	a, b, found := strings.Cut(s, ":")
	if !found {
		return 0, 0, false
	}
	r, err1 := strconv.Atoi(a)
	i, err2 := strconv.Atoi(b)
	return r, i, err1 == nil && err2 == nil
}

// streamReader follows one region's table stream with the consumer library
// (JetStream, from Latest) and records, per origin region, when each
// write of another region appeared in it.
type streamReader struct {
	region int
	recv   []*benchkit.Timeline // by origin region; nil for its own
	c      *streams.Consumer
	nc     *nats.Conn
}

func openReader(ctx context.Context, g *benchkit.Godwit, region int, table, label string, clk benchkit.Clock, recv []*benchkit.Timeline) (*streamReader, error) {
	nc, err := nats.Connect(g.NATS, nats.Name("replat"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", g.NATS, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	var ts streams.TableStream
	err = benchkit.PollUntil(ctx, 30*time.Second, 50*time.Millisecond, func() (bool, error) {
		s, ok, err := streams.LatestTableStream(ctx, js, g.Region, table)
		if ok && s.Label == label {
			ts = s
		}
		return ok && s.Label == label, err
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("stream of %s (label %s) in %s: %w", table, label, g.Region, err)
	}
	src, err := streams.NewJetStreamSource(ctx, js, ts.Name, streams.JetStreamSourceConfig{})
	if err != nil {
		nc.Close()
		return nil, err
	}
	c, err := streams.NewConsumer(ctx, src, streams.ConsumerConfig{From: streams.Latest, Name: "replat"})
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &streamReader{region: region, recv: recv, c: c, nc: nc}, nil
}

// run reads until ctx ends (nil) or the consumer fails.
func (r *streamReader) run(ctx context.Context, clk benchkit.Clock) error {
	for {
		recs, err := r.c.NextBatch(ctx, 512)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s stream: %w", regionNames[r.region], err)
		}
		t := clk.Now()
		for i := range recs {
			v, ok := recs[i].Event.Dynamodb.NewImage["w"]
			if !ok || v.Type != attr.S {
				continue
			}
			origin, id, ok := parseWriteID(v.S)
			if !ok || origin == r.region || origin < 0 || origin >= len(r.recv) {
				continue
			}
			r.recv[origin].Set(id, t)
		}
	}
}

func (r *streamReader) close() {
	r.c.Close()
	r.nc.Close()
}
