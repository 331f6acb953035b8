package benchkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// BatchLoad writes items with pk b0000000000, b0000000001, ... and v pl
// into table with BatchWriteItem, 25 per request, over up to 16 of conns
// connections, resending unprocessed items.
func BatchLoad(ctx context.Context, c *Client, table string, items int, pl string, conns int) error {
	batches := make(chan int, conns)
	var failed atomic.Pointer[error]
	var wg sync.WaitGroup
	for range min(conns, 16) {
		wg.Go(func() {
			var buf bytes.Buffer
			for start := range batches {
				if failed.Load() != nil {
					continue
				}
				var b bytes.Buffer
				b.WriteString(`{"RequestItems":{"` + table + `":[`)
				for i := start; i < min(start+25, items); i++ {
					if i > start {
						b.WriteByte(',')
					}
					b.WriteString(`{"PutRequest":{"Item":{"pk":{"S":"b` + fmt.Sprintf("%010d", i) + `"},"v":{"S":"` + pl + `"}}}}`)
				}
				b.WriteString(`]}}`)
				body := b.Bytes()
				for try := 0; ; try++ {
					var out struct{ UnprocessedItems map[string]json.RawMessage }
					err := c.Call(ctx, "DynamoDB_20120810.BatchWriteItem", body, &out, &buf)
					if err == nil && len(out.UnprocessedItems) == 0 {
						break
					}
					if err == nil {
						body, _ = json.Marshal(map[string]any{"RequestItems": out.UnprocessedItems})
					}
					if try > 50 || ctx.Err() != nil {
						if err == nil {
							err = fmt.Errorf("items still unprocessed after %d tries", try)
						}
						failed.CompareAndSwap(nil, &err)
						break
					}
					_ = Pause(ctx, 20*time.Millisecond)
				}
			}
		})
	}
	for start := 0; start < items; start += 25 {
		batches <- start
	}
	close(batches)
	wg.Wait()
	if e := failed.Load(); e != nil {
		return fmt.Errorf("load: %w", *e)
	}
	return nil
}
