package nhsa

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// Config is the `nhsa` section of the sidecar's configuration: the
// national endpoints are on by default on the HTTP listener; the code
// tables whose national values are not public can be extended or
// overridden per hospital (docs/nhsa.md).
type Config struct {
	// Disabled removes /nhsa/3101, /nhsa/3102 and /nhsa/3103.
	Disabled bool `json:"disabled,omitempty" yaml:"disabled,omitempty"`
	// MaxBodyBytes bounds a request body (413 above it); default 4 MiB.
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty" yaml:"max_body_bytes,omitempty"`
	// HospitalLevels maps medins_lv codes (or their Chinese names) to
	// hospital.level 1–3; entries extend and override DefaultHospitalLevels.
	HospitalLevels map[string]int `json:"hospital_levels,omitempty" yaml:"hospital_levels,omitempty"`
	// DefaultHospitalLevel is the level of an encounter whose medins_lv is
	// absent or not in the table; default 1 (a restricted item is flagged
	// rather than passed unseen). Set it to the hospital's own level.
	DefaultHospitalLevel int `json:"default_hospital_level,omitempty" yaml:"default_hospital_level,omitempty"`
	// InsuranceTypes maps insutype codes to an InsuranceType value name
	// (INSURANCE_EMPLOYEE, …); entries extend and override
	// DefaultInsuranceTypes.
	InsuranceTypes map[string]string `json:"insurance_types,omitempty" yaml:"insurance_types,omitempty"`
	// MedTypes maps med_type codes to an EncounterType value name
	// (ENCOUNTER_OUTPATIENT, …); entries extend and override
	// DefaultMedTypes.
	MedTypes map[string]string `json:"med_types,omitempty" yaml:"med_types,omitempty"`
}

// DefaultMaxBodyBytes is the body limit unless configured.
const DefaultMaxBodyBytes = 4 << 20

// DefaultHospitalLevels is rxguard's medins_lv table (the national code
// values are not public; docs/nhsa.md): the two-digit grade codes 01 三级特等
// … 10 一级丙等, 11 未定级, and the grade names themselves.
func DefaultHospitalLevels() map[string]int {
	return map[string]int{
		"01": 3, "02": 3, "03": 3, "04": 3, // 三级特等/甲等/乙等/丙等
		"05": 2, "06": 2, "07": 2, // 二级甲等/乙等/丙等
		"08": 1, "09": 1, "10": 1, // 一级甲等/乙等/丙等
		"11":   1, // 未定级 (无等级)
		"三级特等": 3, "三级甲等": 3, "三级乙等": 3, "三级丙等": 3, "三级": 3,
		"二级甲等": 2, "二级乙等": 2, "二级丙等": 2, "二级": 2,
		"一级甲等": 1, "一级乙等": 1, "一级丙等": 1, "一级": 1,
		"无等级": 1, "未定级": 1,
	}
}

// DefaultInsuranceTypes is rxguard's insutype table: 310 and 390 are seen
// in the wild, the others are the national table as far as it is known
// (docs/nhsa.md). 工伤 has no national insutype (it is not administered by
// the NHSA), so nothing maps to INSURANCE_WORK_INJURY unless configured.
func DefaultInsuranceTypes() map[string]string {
	emp, res := "INSURANCE_EMPLOYEE", "INSURANCE_RESIDENT"
	return map[string]string{
		"310": emp,                   // 职工基本医疗保险
		"320": emp,                   // 公务员医疗补助
		"330": emp,                   // 大额医疗费用补助
		"340": emp,                   // 离休人员医疗保障
		"350": emp,                   // 一至六级残疾军人医疗补助
		"360": emp,                   // 老红军医疗保障
		"370": emp,                   // 企业补充医疗保险
		"380": res,                   // 新型农村合作医疗
		"390": res,                   // 城乡居民基本医疗保险
		"391": res,                   // 城镇居民基本医疗保险
		"392": res,                   // 城乡居民大病医疗保险
		"510": "INSURANCE_MATERNITY", // 生育保险
	}
}

// DefaultMedTypes is rxguard's med_type table (11, 14, 21 seen; the rest
// medium confidence, docs/nhsa.md). A med_type not in it falls back to
// med_mdtrt_type, then to the trig_scen.
func DefaultMedTypes() map[string]string {
	out, in := "ENCOUNTER_OUTPATIENT", "ENCOUNTER_INPATIENT"
	return map[string]string{
		"11": out,                   // 普通门诊
		"12": out,                   // 门诊挂号
		"13": "ENCOUNTER_EMERGENCY", // 急诊
		"14": out,                   // 门诊慢特病
		"15": out,                   // 门诊两病
		"16": out,                   // 门诊特殊病
		"19": out,                   // 其他门诊
		"21": in,                    // 普通住院
		"22": in,                    // 外伤住院
		"23": in,                    // 转外诊治住院
		"24": in,                    // 急诊转住院
		"25": in,                    // 日间手术/日间病房
		"28": in,                    // 其他住院
		"41": out,                   // 定点药店购药
		"51": out,                   // 生育门诊
		"52": in,                    // 生育住院
	}
}

// tables are the resolved code tables the mapping reads.
type tables struct {
	levels       map[string]int
	defaultLevel int32
	insurance    map[string]rxguardv1.InsuranceType
	medTypes     map[string]rxguardv1.EncounterType
}

// Validate reports the first bad setting by its key path (nhsa.…).
func (c Config) Validate() error {
	_, err := c.tables()
	return err
}

func (c Config) maxBody() int64 {
	if c.MaxBodyBytes <= 0 {
		return DefaultMaxBodyBytes
	}
	return c.MaxBodyBytes
}

func (c Config) tables() (*tables, error) {
	if c.MaxBodyBytes < 0 {
		return nil, fmt.Errorf("nhsa.max_body_bytes: %d is negative; use 0 for the default (%d)", c.MaxBodyBytes, DefaultMaxBodyBytes)
	}
	t := &tables{levels: DefaultHospitalLevels(), defaultLevel: 1,
		insurance: map[string]rxguardv1.InsuranceType{}, medTypes: map[string]rxguardv1.EncounterType{}}
	switch lv := c.DefaultHospitalLevel; {
	case lv == 0:
	case lv >= 1 && lv <= 3:
		t.defaultLevel = int32(lv)
	default:
		return nil, fmt.Errorf("nhsa.default_hospital_level: %d; must be 1, 2 or 3 (一级/二级/三级)", lv)
	}
	for _, k := range slices.Sorted(maps.Keys(c.HospitalLevels)) {
		lv := c.HospitalLevels[k]
		if lv < 1 || lv > 3 {
			return nil, fmt.Errorf("nhsa.hospital_levels.%s: %d; must be 1, 2 or 3 (一级/二级/三级)", k, lv)
		}
		t.levels[k] = lv
	}
	ins := DefaultInsuranceTypes()
	maps.Copy(ins, c.InsuranceTypes)
	for _, k := range slices.Sorted(maps.Keys(ins)) {
		v, ok := rxguardv1.InsuranceType_value[ins[k]]
		if !ok || v == 0 {
			return nil, fmt.Errorf("nhsa.insurance_types.%s: %q is not an insurance type; use one of %s", k, ins[k], enumNames(rxguardv1.InsuranceType_name))
		}
		t.insurance[k] = rxguardv1.InsuranceType(v)
	}
	med := DefaultMedTypes()
	maps.Copy(med, c.MedTypes)
	for _, k := range slices.Sorted(maps.Keys(med)) {
		v, ok := rxguardv1.EncounterType_value[med[k]]
		if !ok || v == 0 {
			return nil, fmt.Errorf("nhsa.med_types.%s: %q is not an encounter type; use one of %s", k, med[k], enumNames(rxguardv1.EncounterType_name))
		}
		t.medTypes[k] = rxguardv1.EncounterType(v)
	}
	return t, nil
}

func enumNames(m map[int32]string) string {
	var names []string
	for _, n := range slices.Sorted(maps.Keys(m)) {
		if n != 0 {
			names = append(names, m[n])
		}
	}
	return strings.Join(names, ", ")
}
