package engine

// Capacity is one entry of ConsumedCapacity's per-table/per-index breakdown.
type Capacity struct {
	CapacityUnits      float64  `json:"CapacityUnits"`
	ReadCapacityUnits  *float64 `json:"ReadCapacityUnits,omitempty"`
	WriteCapacityUnits *float64 `json:"WriteCapacityUnits,omitempty"`
}

// ConsumedCapacity is what ReturnConsumedCapacity asks for.
type ConsumedCapacity struct {
	TableName              string              `json:"TableName"`
	CapacityUnits          float64             `json:"CapacityUnits"`
	ReadCapacityUnits      *float64            `json:"ReadCapacityUnits,omitempty"`
	WriteCapacityUnits     *float64            `json:"WriteCapacityUnits,omitempty"`
	Table                  *Capacity           `json:"Table,omitempty"`
	GlobalSecondaryIndexes map[string]Capacity `json:"GlobalSecondaryIndexes,omitempty"`
	LocalSecondaryIndexes  map[string]Capacity `json:"LocalSecondaryIndexes,omitempty"`
}

// capacityMeter accumulates the units one table's part of a request uses.
type capacityMeter struct {
	table   string // as the caller named it (name or ARN)
	read    bool
	units   float64
	indexes map[string]float64
}

func (c *capacityMeter) addIndex(name string, u float64) {
	if c.indexes == nil {
		c.indexes = make(map[string]float64)
	}
	c.indexes[name] += u
}

// report renders the meter for mode ("TOTAL", "INDEXES"; anything else: nil).
func (c *capacityMeter) report(m *tableMeta, mode string) *ConsumedCapacity {
	if mode != "TOTAL" && mode != "INDEXES" {
		return nil
	}
	total := c.units
	for _, u := range c.indexes {
		total += u
	}
	cc := &ConsumedCapacity{TableName: c.table, CapacityUnits: total}
	c.split(total, &cc.ReadCapacityUnits, &cc.WriteCapacityUnits)
	if mode == "INDEXES" {
		cc.Table = c.capacity(c.units)
		for name, u := range c.indexes {
			ix := m.index(name)
			if ix == nil {
				continue
			}
			dst := &cc.GlobalSecondaryIndexes
			if ix.Local {
				dst = &cc.LocalSecondaryIndexes
			}
			if *dst == nil {
				*dst = make(map[string]Capacity)
			}
			(*dst)[name] = *c.capacity(u)
		}
	}
	return cc
}

func (c *capacityMeter) capacity(u float64) *Capacity {
	cp := &Capacity{CapacityUnits: u}
	c.split(u, &cp.ReadCapacityUnits, &cp.WriteCapacityUnits)
	return cp
}

func (c *capacityMeter) split(u float64, r, w **float64) {
	v := u
	if c.read {
		*r = &v
	} else {
		*w = &v
	}
}
