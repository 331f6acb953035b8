package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/godwit-db/godwit/test/bench/benchkit"
)

type backfillReport struct {
	Mode        string  `json:"mode"`
	Items       int     `json:"items"`
	ItemSize    int     `json:"item_size"`
	LoadS       float64 `json:"load_s"`
	LoadPS      float64 `json:"load_items_per_sec"`
	TableBytes  int64   `json:"table_size_bytes"`
	BackfillS   float64 `json:"backfill_s"`
	ItemsPS     float64 `json:"items_per_sec"`
	MBPS        float64 `json:"mb_per_sec"`
	SourceCount int64   `json:"source_count"`
	ReplicaCnt  int64   `json:"replica_count"`
	OK          bool    `json:"ok"`
}

const backfillTable = "backfill"

func runBackfill(ctx context.Context, cfg config, stderr io.Writer) (any, error) {
	log := logger(stderr)
	cl, err := startCluster(ctx, cfg, 2)
	if err != nil {
		return nil, err
	}
	defer cl.stop()
	src := cl.clients[0]
	if _, err := src.CreateTable(ctx, backfillTable, false); err != nil {
		return nil, err
	}
	log("loading %d items of ~%d bytes into %s", cfg.items, cfg.itemSize, regionNames[0])
	t0 := time.Now()
	if err := benchkit.BatchLoad(ctx, src, backfillTable, cfg.items, payload(cfg.itemSize), cfg.conns); err != nil {
		return nil, err
	}
	rep := backfillReport{Mode: "backfill", Items: cfg.items, ItemSize: cfg.itemSize, LoadS: time.Since(t0).Seconds()}
	rep.LoadPS = float64(cfg.items) / rep.LoadS
	d, err := src.Describe(ctx, backfillTable)
	if err != nil {
		return nil, err
	}
	rep.TableBytes = d.Table.TableSizeBytes
	log("loaded in %.1fs (%.0f items/s), TableSizeBytes %d; adding replica %s", rep.LoadS, rep.LoadPS, rep.TableBytes, regionNames[1])
	t1 := time.Now()
	if err := cl.addReplica(ctx, backfillTable, 1, 30*time.Minute); err != nil {
		return nil, err
	}
	rep.BackfillS = time.Since(t1).Seconds()
	rep.ItemsPS = float64(cfg.items) / rep.BackfillS
	rep.MBPS = float64(rep.TableBytes) / 1e6 / rep.BackfillS
	if rep.SourceCount, err = src.CountItems(ctx, backfillTable); err != nil {
		return nil, err
	}
	if rep.ReplicaCnt, err = cl.clients[1].CountItems(ctx, backfillTable); err != nil {
		return nil, err
	}
	rep.OK = rep.SourceCount == int64(cfg.items) && rep.ReplicaCnt == int64(cfg.items)
	log("backfill: ACTIVE in both after %.2fs: %.0f items/s, %.2f MB/s; counts %d / %d", rep.BackfillS, rep.ItemsPS, rep.MBPS, rep.SourceCount, rep.ReplicaCnt)
	if !rep.OK {
		return rep, fmt.Errorf("%w: counts %d (source) and %d (replica), want %d", errFailed, rep.SourceCount, rep.ReplicaCnt, cfg.items)
	}
	return rep, nil
}
