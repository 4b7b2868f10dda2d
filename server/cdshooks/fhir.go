package cdshooks

import "encoding/json"

// The parts of CDS Hooks 2.0 and FHIR R4 rxguard reads. Everything else a
// client sends (and FHIR resources carry a lot) is ignored, not refused.

type hookRequest struct {
	Hook         string                     `json:"hook"`
	HookInstance string                     `json:"hookInstance"`
	FHIRServer   string                     `json:"fhirServer"`
	Context      hookContext                `json:"context"`
	Prefetch     map[string]json.RawMessage `json:"prefetch"`
}

type hookContext struct {
	UserID      string   `json:"userId"`
	PatientID   string   `json:"patientId"`
	EncounterID string   `json:"encounterId"`
	Selections  []string `json:"selections"`
	DraftOrders *bundle  `json:"draftOrders"`
}

type bundle struct {
	ResourceType string        `json:"resourceType"`
	Entry        []bundleEntry `json:"entry"`
}

type bundleEntry struct {
	Resource json.RawMessage `json:"resource"`
}

// resourceHead is what identifies any resource.
type resourceHead struct {
	ResourceType string `json:"resourceType"`
	ID           string `json:"id"`
}

type coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

type codeableConcept struct {
	Coding []coding `json:"coding"`
	Text   string   `json:"text"`
}

type quantity struct {
	Value *float64 `json:"value"`
	Unit  string   `json:"unit"`
	Code  string   `json:"code"`
}

type extension struct {
	URL          string `json:"url"`
	ValueBoolean *bool  `json:"valueBoolean"`
}

type timingRepeat struct {
	Frequency  *float64 `json:"frequency"`
	Period     *float64 `json:"period"`
	PeriodUnit string   `json:"periodUnit"`
}

type dosage struct {
	Timing *struct {
		Repeat *timingRepeat `json:"repeat"`
	} `json:"timing"`
}

type medicationRequest struct {
	resourceHead
	Category                  []codeableConcept `json:"category"`
	MedicationCodeableConcept *codeableConcept  `json:"medicationCodeableConcept"`
	AuthoredOn                string            `json:"authoredOn"`
	DosageInstruction         []dosage          `json:"dosageInstruction"`
	DispenseRequest           *struct {
		Quantity               *quantity `json:"quantity"`
		ExpectedSupplyDuration *quantity `json:"expectedSupplyDuration"`
	} `json:"dispenseRequest"`
	Extension []extension `json:"extension"`
}

type serviceRequest struct {
	resourceHead
	Code             *codeableConcept `json:"code"`
	QuantityQuantity *quantity        `json:"quantityQuantity"`
	AuthoredOn       string           `json:"authoredOn"`
	Extension        []extension      `json:"extension"`
}

type patientResource struct {
	resourceHead
	Gender    string `json:"gender"`
	BirthDate string `json:"birthDate"`
}

type encounterResource struct {
	resourceHead
	Class  *coding `json:"class"`
	Period *struct {
		Start string `json:"start"`
	} `json:"period"`
	Diagnosis []struct {
		Condition struct {
			Reference string `json:"reference"`
		} `json:"condition"`
		Rank *int `json:"rank"`
	} `json:"diagnosis"`
}

type conditionResource struct {
	resourceHead
	ClinicalStatus     *codeableConcept `json:"clinicalStatus"`
	VerificationStatus *codeableConcept `json:"verificationStatus"`
	Code               *codeableConcept `json:"code"`
}

type coverageResource struct {
	resourceHead
	Status string           `json:"status"`
	Type   *codeableConcept `json:"type"`
}

// operationOutcome is FHIR's error answer.
type operationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []issue `json:"issue"`
}

type issue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics"`
	Expression  []string `json:"expression,omitempty"`
}
