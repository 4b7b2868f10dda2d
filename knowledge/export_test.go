package knowledge

import "encoding/json"

// DecodeContent exposes decodeContent (with its fallback count) to the
// external tests, which import knowledge/demo.
var DecodeContent = decodeContent

// RecordCodec decodes one class's value with the fast path alone, with
// decode (fast path, else json.Unmarshal) and with json.Unmarshal alone.
type RecordCodec struct {
	Fast   func(v []byte) (any, bool)
	Decode func(v []byte) (any, error)
	JSON   func(v []byte) (any, error)
}

func codec[T any](fast func(*recordDecoder, *scanner, *T)) RecordCodec {
	return RecordCodec{
		Fast: func(v []byte) (any, bool) {
			var x T
			s := scanner{b: v}
			fast(newRecordDecoder(), &s, &x)
			return &x, !s.bad && s.i == len(v)
		},
		Decode: func(v []byte) (any, error) {
			var x T
			err := decode(newRecordDecoder(), v, &x, fast)
			return &x, err
		},
		JSON: func(v []byte) (any, error) {
			var x T
			err := json.Unmarshal(v, &x)
			return &x, err
		},
	}
}

// RecordCodecs has one entry per record class.
var RecordCodecs = map[Class]RecordCodec{
	ClassRestriction:         codec(fastRestriction),
	ClassDrug:                codec(fastDrug),
	ClassCatalogueDrug:       codec(fastCatalogueDrug),
	ClassInteraction:         codec(fastInteraction),
	ClassChronicDiagnosis:    codec(fastChronicDiagnosis),
	ClassDiagnosisCategory:   codec(fastDiagnosisCategory),
	ClassDiagnosisBlock:      codec(fastDiagnosisBlock),
	ClassPhysician:           codec(fastPhysician),
	ClassPhysicianEvent:      codec(fastPhysicianEvent),
	ClassRecognitionItem:     codec(fastRecognitionItem),
	ClassOutpatientCondition: codec(fastOutpatientCondition),
	ClassWarning:             codec(fastWarning),
}
